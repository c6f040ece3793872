/**
 * The throughput workloads, the same for every contender: each builds the requests its
 * real client would send (captured, not hand-written), and the hand-written floor
 * runs the same SQL.
 */
export interface Workload {
  readonly name: string
  /** Parameters per captured request (e.g. 100 different ids). */
  readonly params: readonly number[]
}

export const AUTHORS = Number(process.env.BENCH_AUTHORS ?? 2000)

const spread = (n: number, max: number) => Array.from({ length: n }, (_, i) => 1 + ((i * 7919) % max))

export const WORKLOADS = {
  point: { name: 'point read by primary key', params: spread(200, AUTHORS) },
  twenty: { name: '20 rows by an indexed filter, ordered', params: spread(200, AUTHORS) },
  eager: { name: '20 rows with one eager relation', params: spread(200, AUTHORS) },
  thousand: { name: '1,000 rows', params: spread(20, 50) },
  batch: { name: '20 point reads in one request', params: spread(200, AUTHORS - 20) },
  // The parameter is the author; each request inserts a post and answers it as stored.
  insert: { name: 'insert one row, answered as stored', params: spread(200, AUTHORS) },
  // The parameter is the author, who retitles their first post by id (answered as stored).
  update: { name: 'update one row by id, answered as stored', params: spread(200, AUTHORS) },
} satisfies Record<string, Workload>

export type WorkloadKey = keyof typeof WORKLOADS

/** A 10,000-row result: throughput with a few connections, and the server's peak memory. */
export const LARGE_RESULT = { name: 'a 10,000-row result', rows: 10_000, params: spread(10, 100), connections: 4 } as const

/** Posts each seeded author has (ids `(author - 1) * POSTS_PER_AUTHOR + 1` onwards). */
export const POSTS_PER_AUTHOR = 10

/** The post the update workload retitles for an author: its first, by id; and its new title. */
export const updatedPost = (author: number) => ({ id: (author - 1) * POSTS_PER_AUTHOR + 1, title: `edited by ${author}` })

/** The post the insert workload writes for an author. */
export const insertedPost = (author: number) => ({ title: `post ${author}`, body: 'inserted by the bench', published: true })

/** The request header that signs the bench's writes in as an author (the async-orm server's `auth`). */
export const AUTHOR_HEADER = 'x-bench-author'

/** The ids the batch workload reads for a parameter: 20 consecutive authors. */
export const batchIds = (param: number): number[] => Array.from({ length: 20 }, (_, i) => param + i)

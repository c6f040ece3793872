/** Headers of the protocol that more than one side reads (client, executor, edge proxy). */
/**
 * With read replicas, answers to requests that wrote carry the primary's WAL position
 * after their commit in this header (`pg_lsn` text, `16/B374D848`); the client sends the
 * newest it has seen with every request, and the executor serves its reads only from a
 * database that has replayed past it.
 */
export const WAL_POSITION_HEADER = 'async-orm-lsn'

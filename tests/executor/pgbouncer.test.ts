/**
 * The read and write suites through PgBouncer in transaction pooling mode (Debian's
 * 1.18, started by the global setup in front of the tests' PostgreSQL server).
 */
import { readSuite } from './read-suite.js'
import { writeSuite } from './write-suite.js'

readSuite('model', ['pgbouncer'])
writeSuite('model', ['pgbouncer'])

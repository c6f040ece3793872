import { readSuite } from './read-suite.js'

// objection's other documented setup: knexSnakeCaseMappers() in the knex config, none on the models.
readSuite('knex')

import { writeSuite } from './write-suite.js'

// objection's other documented setup: knexSnakeCaseMappers() in the knex config, none on the models.
writeSuite('knex')

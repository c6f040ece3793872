import { readSuite } from './read-suite.js'

readSuite('model')

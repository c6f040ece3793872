import { writeSuite } from './write-suite.js'

writeSuite('model')

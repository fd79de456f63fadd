// test/integration/branch-calls.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-calls', () => require('../integration/branch-calls.test'))

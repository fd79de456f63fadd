// test/integration/branch-refusals.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-refusals', () => require('../integration/branch-refusals.test'))

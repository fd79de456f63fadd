// test/integration/branch-ring-both.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-ring-both', () => require('../integration/branch-ring-both.test'))

// test/integration/branch-lease.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-lease', () => require('../integration/branch-lease.test'))

// test/integration/branch-policy.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-policy', () => require('../integration/branch-policy.test'))

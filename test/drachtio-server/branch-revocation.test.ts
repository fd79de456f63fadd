// test/integration/branch-revocation.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-revocation', () => require('../integration/branch-revocation.test'))

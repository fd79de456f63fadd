// test/integration/branch-pin-lockout.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-pin-lockout', () => require('../integration/branch-pin-lockout.test'))

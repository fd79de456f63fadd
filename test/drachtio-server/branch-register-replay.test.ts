// test/integration/branch-register-replay.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-register-replay', () => require('../integration/branch-register-replay.test'))

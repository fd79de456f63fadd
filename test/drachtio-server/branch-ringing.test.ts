// test/integration/branch-ringing.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-ringing', () => require('../integration/branch-ringing.test'))

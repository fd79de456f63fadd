// test/integration/branch-renewal.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-renewal', () => require('../integration/branch-renewal.test'))

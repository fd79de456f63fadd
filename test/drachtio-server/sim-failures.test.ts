// test/integration/sim-failures.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sim-failures', () => require('../integration/sim-failures.test'))

// test/integration/sim-demo.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sim-demo', () => require('../integration/sim-demo.test'))

// test/integration/sim-start-stop.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sim-start-stop', () => require('../integration/sim-start-stop.test'))

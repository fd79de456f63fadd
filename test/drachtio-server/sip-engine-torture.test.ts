// test/integration/sip-engine-torture.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sip-engine-torture', () => require('../integration/sip-engine-torture.test'))

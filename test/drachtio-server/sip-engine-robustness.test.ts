// test/integration/sip-engine-robustness.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sip-engine-robustness', () => require('../integration/sip-engine-robustness.test'))

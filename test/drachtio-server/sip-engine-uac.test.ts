// test/integration/sip-engine-uac.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sip-engine-uac', () => require('../integration/sip-engine-uac.test'))

// test/integration/sip-engine-register.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sip-engine-register', () => require('../integration/sip-engine-register.test'))

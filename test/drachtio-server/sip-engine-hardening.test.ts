// test/integration/sip-engine-hardening.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sip-engine-hardening', () => require('../integration/sip-engine-hardening.test'))

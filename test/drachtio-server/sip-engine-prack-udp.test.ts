// test/integration/sip-engine-prack-udp.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sip-engine-prack-udp', () => require('../integration/sip-engine-prack-udp.test'))

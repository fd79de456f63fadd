// test/integration/sip-engine-ack-timeout.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sip-engine-ack-timeout', () => require('../integration/sip-engine-ack-timeout.test'))

// test/integration/sip-engine-subscribe.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sip-engine-subscribe', () => require('../integration/sip-engine-subscribe.test'))

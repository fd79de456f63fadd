// test/integration/sip-engine-proxy.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sip-engine-proxy', () => require('../integration/sip-engine-proxy.test'))

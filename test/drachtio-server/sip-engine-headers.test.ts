// test/integration/sip-engine-headers.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sip-engine-headers', () => require('../integration/sip-engine-headers.test'))

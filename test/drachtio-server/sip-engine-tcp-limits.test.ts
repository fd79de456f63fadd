// test/integration/sip-engine-tcp-limits.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sip-engine-tcp-limits', () => require('../integration/sip-engine-tcp-limits.test'))

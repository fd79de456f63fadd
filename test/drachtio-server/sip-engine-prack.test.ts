// test/integration/sip-engine-prack.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sip-engine-prack', () => require('../integration/sip-engine-prack.test'))

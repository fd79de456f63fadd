// test/integration/sip-engine-invite.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sip-engine-invite', () => require('../integration/sip-engine-invite.test'))

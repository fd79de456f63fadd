// test/integration/sip-engine-out-of-dialog.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sip-engine-out-of-dialog', () => require('../integration/sip-engine-out-of-dialog.test'))

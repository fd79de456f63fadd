// test/integration/sip-node-branch.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('sip-node-branch', () => require('../integration/sip-node-branch.test'))

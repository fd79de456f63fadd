// test/integration/branch-node-restart.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-node-restart', () => require('../integration/branch-node-restart.test'))

// test/integration/branch-pickup.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-pickup', () => require('../integration/branch-pickup.test'))

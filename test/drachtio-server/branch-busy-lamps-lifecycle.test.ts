// test/integration/branch-busy-lamps-lifecycle.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-busy-lamps-lifecycle', () => require('../integration/branch-busy-lamps-lifecycle.test'))

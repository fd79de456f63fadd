// test/integration/branch-busy-lamps-edits.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-busy-lamps-edits', () => require('../integration/branch-busy-lamps-edits.test'))

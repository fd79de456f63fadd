// test/integration/branch-toll-classes.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-toll-classes', () => require('../integration/branch-toll-classes.test'))

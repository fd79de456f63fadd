// test/integration/branch-signin.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-signin', () => require('../integration/branch-signin.test'))

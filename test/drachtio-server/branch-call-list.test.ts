// test/integration/branch-call-list.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-call-list', () => require('../integration/branch-call-list.test'))

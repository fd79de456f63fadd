// test/integration/branch-bindings.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-bindings', () => require('../integration/branch-bindings.test'))

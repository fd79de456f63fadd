// test/integration/branch-guessing.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-guessing', () => require('../integration/branch-guessing.test'))

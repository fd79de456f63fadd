// test/integration/branch-emergency.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('branch-emergency', () => require('../integration/branch-emergency.test'))

// test/integration/trace-signin.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('trace-signin', () => require('../integration/trace-signin.test'))

// test/integration/portal-lockout.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('portal-lockout', () => require('../integration/portal-lockout.test'))

// test/integration/portal-admin.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('portal-admin', () => require('../integration/portal-admin.test'))

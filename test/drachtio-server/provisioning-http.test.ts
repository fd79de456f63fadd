// test/integration/provisioning-http.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('provisioning-http', () => require('../integration/provisioning-http.test'))

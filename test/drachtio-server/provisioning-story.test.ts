// test/integration/provisioning-story.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('provisioning-story', () => require('../integration/provisioning-story.test'))

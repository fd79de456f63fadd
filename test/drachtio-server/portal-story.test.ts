// test/integration/portal-story.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('portal-story', () => require('../integration/portal-story.test'))

// test/integration/metrics-scrape.test.ts on a real drachtio-server (skipped where there is none): engines.ts.
import { runOnDrachtioServer } from '../helpers/engines'
runOnDrachtioServer('metrics-scrape', () => require('../integration/metrics-scrape.test'))

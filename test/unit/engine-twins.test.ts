// Every integration test that starts a SIP engine runs on drachtio-server too (docs/ENGINES.md,
// "Both engines, one suite"): it has a twin in test/drachtio-server/ that loads it, unless
// docs/ENGINES.md names it among the embedded-only ones. A file starts an engine when it imports
// a value from one of the helpers that start one (branches, sip-engine, sim-run).
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const TEST = join(__dirname, '..')
const INTEGRATION = join(TEST, 'integration')
const TWINS = join(TEST, 'drachtio-server')

/** Embedded only, by nature: each is named in docs/ENGINES.md with the reason. */
const EMBEDDED_ONLY = ['sim-netns', 'branch-scanners', 'sip-engine-challenge-bytes']

const ENGINE_HELPER = /import\s+\{[^}]*\}\s+from\s+'\.\.\/helpers\/(branches|sip-engine|sim-run)'/

const names = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.test.ts')).map((f) => f.slice(0, -'.test.ts'.length)).sort()

// Guard tried: a twin removed (test/drachtio-server/portal-story.test.ts): "starts an engine, has a twin" fails naming it.
t.test('each integration test that starts a SIP engine has a drachtio-server twin', async (t) => {
  const engineTests = names(INTEGRATION).filter((name) => ENGINE_HELPER.test(readFileSync(join(INTEGRATION, `${name}.test.ts`), 'utf8')))
  t.ok(engineTests.length > 30, `${engineTests.length} integration files start an engine`)
  const twins = new Set(names(TWINS))
  const missing = engineTests.filter((name) => !twins.has(name) && !EMBEDDED_ONLY.includes(name))
  t.same(missing, [], 'every one that starts an engine has a twin (or is embedded only by nature)')
  const engines = readFileSync(join(TEST, '..', 'docs', 'ENGINES.md'), 'utf8')
  for (const name of EMBEDDED_ONLY) t.ok(engines.includes(`\`${name}\``), `${name}: docs/ENGINES.md says why it is embedded only`)
})

t.test('each twin loads the integration file of its own name on drachtio-server', async (t) => {
  for (const name of names(TWINS)) {
    const source = readFileSync(join(TWINS, `${name}.test.ts`), 'utf8')
    t.match(source, `runOnDrachtioServer('${name}', () => require('../integration/${name}.test'))`, `${name}: runs its namesake`)
    t.ok(names(INTEGRATION).includes(name), `${name}: test/integration/${name}.test.ts exists`)
  }
})

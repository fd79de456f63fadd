import t from 'tap'
import { randomUUID } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { credentials } from '@grpc/grpc-js'
import { loadSites } from '@flexseat/config'
import { bearer, DirectoryServiceClient, unary } from '@flexseat/proto'
import { readDemoDirectory } from '@flexseat/sim'
import { copySitesOnFreePorts } from '../helpers/sim-sites'
import { DEMO, processesMentioning, startSim } from '../helpers/sim-run'

// `npm run demo`, end to end over real SIP (sipp phones, the three branches' engines and nodes,
// registries, etcd): without a simulation it starts one, plays the story, prints a timeline
// and exits 0, leaving nothing running; on a running simulation it plays again; and when a step
// misbehaves (here: the worker's PIN was changed behind the demo's back, so the sign-in is
// refused) it says which and exits 1. Two simulation starts plus three stories: 120 s.
t.setTimeout(120_000)

t.test('plays the story, on its own simulation and on a running one; exits 1 when a step misbehaves', async (t) => {
  const sitesDir = await copySitesOnFreePorts()
  const stateDir = await mkdtemp(join(tmpdir(), 'flexseat-demo-state-'))
  t.teardown(() => rm(sitesDir, { recursive: true, force: true }))
  t.teardown(() => rm(stateDir, { recursive: true, force: true }))
  const flags = ['--sites-dir', sitesDir, '--state-dir', stateDir]

  const alone = await startSim(flags, DEMO)
  t.teardown(() => alone.process.kill())
  const aloneExit = await alone.exit(90_000)
  const story = alone.output()
  if (!t.same(aloneExit, { code: 0, signal: null }, 'the story went as expected')) t.comment(story)
  t.match(story, /no simulation is running: starting one/)
  for (const step of [
    /✓ .*phones registered with digest auth/,
    /✓ .*amsterdam-desk-1 dials \*51\*1001\*•+ → 480 Signed in as 1001/,
    /✓ .*amsterdam-desk-1 shows "Signed in as 1001 \(Ada Lovelace\)"/,
    /✓ .*chicago-lobby calls 1001 → 200 OK; rang amsterdam-desk-1 after \d+ ms, not berlin-desk-1/,
    /✓ .*berlin-desk-1 dials \*51\*1001\*•+ → 480 Signed in as 1001/,
    /✓ .*amsterdam-desk-1 shows "1001 signed out: signed in at Berlin, desk 1"/,
    /✓ .*chicago-lobby calls 1001 → 200 OK; rang berlin-desk-1 after \d+ ms, not amsterdam-desk-1/,
    /✓ .*berlin-desk-1 dials \*51 → 480 Signed out 1001/,
  ]) {
    t.match(story, step)
  }
  t.match(story, /every step as expected \(8 steps\)/)
  const directory = await readDemoDirectory(stateDir)
  const ada = directory?.users.find((user) => user.extension === '1001')
  t.ok(ada, 'the simulation wrote its directory')
  t.notOk(story.includes(`*51*1001*${ada?.pin}`), 'the PIN is never printed')
  t.same(processesMentioning(sitesDir), [], 'the simulation the demo started is gone')

  // On a running simulation: no start, same story.
  const sim = await startSim(flags)
  t.teardown(() => sim.process.kill())
  await sim.waitFor(/│ ready$/m, 60_000)
  const again = await startSim(flags, DEMO)
  t.teardown(() => again.process.kill())
  if (!t.same(await again.exit(60_000), { code: 0, signal: null }, 'the story again')) t.comment(again.output())
  t.notMatch(again.output(), /starting one/, 'it used the running simulation')

  // A misbehaving step: the worker's PIN is no longer the one the demo knows.
  const sites = await loadSites(sitesDir)
  const token = (await readFile(join(stateDir, 'admin-token'), 'utf8')).trim()
  const client = new DirectoryServiceClient(sites[0]!.registry.listen, credentials.createInsecure())
  t.teardown(() => client.close())
  const otherPin = ada?.pin === '135790' ? '246801' : '135790'
  await unary(client.resetPin.bind(client), { requestId: randomUUID(), userId: ada!.id, newPin: otherPin }, { metadata: bearer(token), timeoutMs: 5_000 })
  const broken = await startSim(flags, DEMO)
  t.teardown(() => broken.process.kill())
  t.same(await broken.exit(60_000), { code: 1, signal: null }, 'exit code 1')
  t.match(broken.output(), /✗ .*amsterdam-desk-1 dials \*51\*1001\*•+ → 403 Wrong PIN/, 'the failed step is named with what happened')
  t.match(broken.output(), /\d+ of \d+ steps misbehaved/)

  sim.process.signal('SIGINT')
  t.same(await sim.exit(30_000), { code: 0, signal: null })
})

import t from 'tap'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadSites } from '@flexseat/config'
import { fetchClusterStatus } from '@flexseat/sim'
import { copySitesOnFreePorts } from '../helpers/sim-sites'
import { engineProcessNeedle, eventually, processesMentioning, type SimRun, startSim } from '../helpers/sim-run'

// The launcher's failure paths: a child that dies comes back by itself (a registry, a SIP engine,
// a SIP node, an etcd member: each killed with SIGKILL is restarted, logged, and serves again;
// the restarted SIP node holds its branch lease at once); bad state and bad site files are
// refused before anything starts.
t.setTimeout(90_000)

/**
 * The simulation the first two subtests share: started with `--reset` by the first, on the state
 * of another cluster (a simulation start costs about as much CPU as a small test file, and this
 * file runs twice, once per engine); killed with the file.
 */
const file = t
let shared: { sitesDir: string; stateDir: string; run: SimRun } | undefined

t.test('state of another etcd cluster is refused with a hint to --reset', async (t) => {
  const sitesDir = await copySitesOnFreePorts()
  const stateDir = await mkdtemp(join(tmpdir(), 'flexseat-state-'))
  file.teardown(() => rm(sitesDir, { recursive: true, force: true }))
  file.teardown(() => rm(stateDir, { recursive: true, force: true }))
  await mkdir(join(stateDir, 'etcd', 'etcd-amsterdam'), { recursive: true })
  await writeFile(join(stateDir, 'etcd', 'members.json'), JSON.stringify([{ name: 'etcd-amsterdam', clientUrl: 'http://127.0.0.1:1', peerUrl: 'http://127.0.0.1:2' }]))
  const run = await startSim(['--sites-dir', sitesDir, '--state-dir', stateDir])
  t.teardown(() => run.process.kill())
  const exit = await run.exit(20_000)
  t.equal(exit.code, 1)
  t.match(run.output(), /could not start: .*other members than the sites name.*--reset/)
  t.equal(processesMentioning(join(stateDir, 'etcd') + '/').length, 0, 'no etcd was started')

  // the next subtest stops it with SIGINT (exit code 0) after its kills
  const reset = await startSim(['--sites-dir', sitesDir, '--state-dir', stateDir, '--reset'])
  file.teardown(() => reset.process.kill())
  await reset.waitFor(/starting etcd/, 10_000)
  await reset.waitFor(/│ ready$|could not start/m, 40_000)
  t.notMatch(reset.output(), /could not start/, '--reset wipes the old state and starts')
  shared = { sitesDir, stateDir, run: reset }
})

// Guard tried: main.ts stopping everything on 'unexpected-exit' (as before): the launcher then
// exits 1 instead of restarting; Launcher.#exited not scheduling a restart: nothing comes back.
t.test('a process that dies is restarted; only SIGINT stops the simulation', async (t) => {
  if (shared === undefined) return t.fail('no simulation: the --reset start above failed')
  const { sitesDir, stateDir, run } = shared
  const sites = await loadSites(sitesDir)
  const token = (await readFile(join(stateDir, 'admin-token'), 'utf8')).trim()

  const killed = {
    'berlin registry': processesMentioning('registry/dist/main.js', '--site\0berlin', sitesDir),
    'chicago sip-node': processesMentioning('sip-node/dist/main.js', '--site\0chicago', sitesDir),
    'amsterdam sip-engine': processesMentioning(engineProcessNeedle(), sites.find((s) => s.id === 'amsterdam')!.sip.contact),
    'berlin etcd': processesMentioning(join(stateDir, 'etcd') + '/', '--name\0etcd-berlin\0'),
  }
  for (const [source, pids] of Object.entries(killed)) t.equal(pids.length, 1, `${source} found`)
  const from = run.output().length
  for (const pids of Object.values(killed)) process.kill(pids[0]!, 'SIGKILL')
  for (const [source, pids] of Object.entries(killed)) {
    await run.waitFor(new RegExp(`sim\\s*│ ${source} \\(pid ${pids[0]}\\) ended unexpectedly: killed by SIGKILL; restarting it in 1\\.0 s$`, 'm'), 10_000, from)
    const restarted = await run.waitFor(new RegExp(`sim\\s*│ ${source} restarted \\(pid (\\d+)\\)$`, 'm'), 40_000, from)
    t.not(Number(restarted[1]), pids[0], `${source}: restarted as a new process (pid ${restarted[1]})`)
  }
  // The restarted Chicago node released the dead one's lease (else it waits for it to expire).
  // The terminal says so in one line; the node's own log (logs/chicago-sip-node.log) has the rest.
  await run.waitFor(/chicago sip-node\s*│ took the lease over from its dead predecessor \S+$/m, 15_000, from)
  const chicagoLog = (await readFile(join(stateDir, 'logs', 'chicago-sip-node.log'), 'utf8')).split('\n').filter((line) => line.includes('"sip node starting"'))
  const chicagoNode = (JSON.parse(chicagoLog.at(-1)!) as { nodeId: string }).nodeId
  const status = await eventuallyValue(async () => {
    const got = await fetchClusterStatus(sites[0]!.registry.listen, token)
    const held = got.branches.filter((b) => b.leaseHeld)
    return got.instances.length === 3 && held.length === 3 && held.some((b) => b.siteId === 'chicago' && b.nodeId === chicagoNode) ? got : undefined
  }, 30_000)
  t.ok(status, `three registry instances again, every branch's SIP node holds its lease, Chicago's the restarted ${chicagoNode}`)
  t.ok(run.process.running, 'the launcher runs on')

  run.process.signal('SIGINT')
  const exit = await run.exit(30_000)
  t.same(exit, { code: 0, signal: null }, 'SIGINT: exit code 0')
  const left = (): number[] => [
    ...processesMentioning(join(stateDir, 'etcd') + '/'),
    ...processesMentioning(sitesDir),
    ...sites.flatMap((site) => processesMentioning(engineProcessNeedle(), site.sip.contact)),
  ]
  t.ok(await eventually(() => left().length === 0, 10_000), 'no etcd, registry, engine or node process is left (restarted ones included)')
})

/** Polls `check` until it gives a value, for at most `timeoutMs` (undefined then). */
async function eventuallyValue<T>(check: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const value = await check().catch(() => undefined)
    if (value !== undefined) return value
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return undefined
}

t.test('a bad site file is refused before anything starts (exit code 2)', async (t) => {
  const sitesDir = await copySitesOnFreePorts()
  const stateDir = await mkdtemp(join(tmpdir(), 'flexseat-state-'))
  t.teardown(() => rm(sitesDir, { recursive: true, force: true }))
  t.teardown(() => rm(stateDir, { recursive: true, force: true }))
  await writeFile(join(sitesDir, 'berlin.yaml'), 'id: berlin\n')
  const run = await startSim(['--sites-dir', sitesDir, '--state-dir', stateDir])
  t.teardown(() => run.process.kill())
  t.equal((await run.exit(20_000)).code, 2)
  t.match(run.output(), /flexseat-sim: .*berlin\.yaml: name: is missing/)
})

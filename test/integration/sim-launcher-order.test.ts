// The launcher starts each process kind once what it needs (SiteProcessKind.after) is ready and
// settled, and kinds that do not need each other side by side (`npm start`: the SIP engines while
// etcd forms its cluster; node, provisioning and portal together after the registries). Over a
// real etcd cluster of the example sites, with small stand-in processes as the kinds (each a node
// script that prints its ready line), so the order is what is checked, not the services.
import t, { type Test } from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadSites } from '@flexseat/config'
import { ensureTokens, Launcher, type LaunchContext, type SiteProcessKind, SimError } from '@flexseat/sim'
import { copySitesOnFreePorts } from '../helpers/sim-sites'
import { processesMentioning } from '../helpers/sim-run'

t.setTimeout(60_000)

/** What each kind saw when its processes were spawned: etcd's endpoints and the kinds already ready. */
interface Spawned {
  kind: string
  etcdUp: boolean
  ready: string[]
}

/** A kind whose process prints `ready <kind> <site>` at once (or, when `stuck`, never: its start times out after 300 ms). */
function standIn(name: string, after: readonly string[] | undefined, spawned: Spawned[], stuck = false): SiteProcessKind {
  const script = `${stuck ? '' : `console.log('ready ${name} ' + process.argv[1]); `}setInterval(() => {}, 60000)`
  return {
    name,
    ...(after === undefined ? {} : { after }),
    ...(stuck ? { startTimeoutMs: 300 } : {}),
    command(site, context: LaunchContext) {
      spawned.push({ kind: name, etcdUp: context.etcdEndpoints.length > 0, ready: [...context.addresses].filter(([, bySite]) => bySite.size === context.sites.length).map(([kind]) => kind) })
      return { command: process.execPath, args: ['-e', script, site.id], env: {} }
    },
    readyAddress: ({ text }) => (text.startsWith(`ready ${name} `) ? text : undefined),
    stopGraceMs: 2_000,
  }
}

async function launch(t: Test, kinds: SiteProcessKind[]): Promise<{ started: Promise<Launcher>; stateDir: string }> {
  const sitesDir = await copySitesOnFreePorts()
  const stateDir = await mkdtemp(join(tmpdir(), 'flexseat-launcher-'))
  t.teardown(() => rm(sitesDir, { recursive: true, force: true }))
  t.teardown(() => rm(stateDir, { recursive: true, force: true }))
  const sites = await loadSites(sitesDir)
  const tokens = await ensureTokens(stateDir, sites.map((site) => site.id))
  return { started: Launcher.start({ sites, kinds, sitesDir, stateDir, repoRoot: process.cwd(), tokens, env: process.env }), stateDir }
}

// Guards tried: #start awaiting etcd before every kind (as before): `early` sees etcd up; a kind
// started without awaiting its `after`: `late` sees `early` or `middle` not ready.
t.test('each kind starts once what it needs is ready; independent kinds do not wait', async (t) => {
  const spawned: Spawned[] = []
  const { started } = await launch(t, [
    standIn('middle', ['etcd'], spawned),
    standIn('early', [], spawned),
    standIn('late', ['middle', 'early'], spawned),
    standIn('default', undefined, spawned),
  ])
  const launcher = await started
  t.teardown(() => launcher.stop())
  const first = (kind: string) => spawned.find((s) => s.kind === kind)
  t.equal(first('early')?.etcdUp, false, 'a kind that needs nothing starts before etcd is up')
  t.equal(first('middle')?.etcdUp, true, 'a kind after etcd starts once etcd is up')
  t.same(first('late')?.ready.sort(), ['early', 'middle'], 'a kind after two others starts once both are ready on every site')
  t.same(first('default')?.ready.sort(), ['early', 'late', 'middle'], 'without `after`: after every kind listed before it')
  t.equal(launcher.state, 'running')
  t.equal(launcher.processes.length, 4 * 3, 'one process per kind and site')
  await launcher.stop()
  t.ok(launcher.processes.every((p) => !p.process.running), 'all stopped')
})

// A kind whose processes never report ready (a process that exits is caught by #exited; this is
// the launcher's own abort). Guard tried: a failed stage not aborting the others' waits:
// `sibling` (which does not need the broken kind) is spawned once etcd is up, after the start
// has already failed.
t.test('a kind that fails: start rejects, nothing more starts, everything is stopped', async (t) => {
  const spawned: Spawned[] = []
  const { started, stateDir } = await launch(t, [standIn('broken', [], spawned, true), standIn('sibling', ['etcd'], spawned), standIn('after-broken', ['etcd', 'broken'], spawned)])
  const error = await started.then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(error instanceof SimError, 'a SimError')
  t.equal((error as SimError).code, 'START_TIMEOUT', (error as Error).message)
  t.notOk(spawned.some((s) => s.kind === 'after-broken'), 'the kind that needs it was never spawned')
  t.notOk(spawned.some((s) => s.kind === 'sibling'), 'nor a kind that was still waiting for etcd')
  t.same(processesMentioning(stateDir), [], 'etcd, started meanwhile, is stopped')
})

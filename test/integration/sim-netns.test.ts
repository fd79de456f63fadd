import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { loadSites } from '@flexseat/config'
import { fetchClusterStatus, isHealthy, probeNetns, removeWan, wanLinks, wanNamespaces } from '@flexseat/sim'
import { copySites } from '../helpers/sim-sites'
import { engineProcessNeedle, eventually, processesMentioning, startSim } from '../helpers/sim-run'

// The multi-host mode end to end, as root: `flexseat-sim --netns --wan-delay` runs every site in a
// network namespace of its own on a bridge; the sites are at their own addresses, a cross-site
// request and its answer cost the WAN delay twice (by netem where the kernel has it, otherwise by
// the userspace relay in namespace fxs-.relay: this kernel has no sch_netem), `flexseat-sim cut <site>` isolates a site (its registry drops
// out of the cluster, another leads, its SIP node suspends), `heal` brings it back, and Ctrl-C
// leaves no namespace, veth or bridge behind. Skipped where there is no root or no `ip netns`.
// One file, one test: the names (fxs0, fxs-<site>) are fixed, so two runs at once would tear
// down each other's network.
// 90 s: on this 2-core machine the start takes ~10 s (longer with the delay), a cut is seen in
// ~5-10 s (registry lease TTL 3 s, etcd election 1 s, the SIP node's confirmation lease 5 s), a
// heal in ~5 s, the stop ~5 s; the rest is margin for a machine busy with other tests.
t.setTimeout(90_000)

const execFileAsync = promisify(execFile)
/**
 * One-way delay between two sites; from the root namespace to a site a round trip costs this much.
 * 10 ms, not a long-distance 30+: with 30 ms through the userspace relay, on the 2-core machine
 * with another test file running beside, a branch's SIP node could not renew its confirmation
 * lease within its 1.67 s deadline (RenewLease at the leader takes several sequential etcd round
 * trips, each a quorum read across the WAN), so the test would measure the machine's load, not
 * the multi-host mode. How the system behaves at long WAN delays is issue 13's (nemesis runs)
 * and docs/OPERATIONS.md's to say.
 */
const DELAY_MS = 10

t.test('multi-host mode: own addresses, WAN delay, cut and heal a site, nothing left behind', async (t) => {
  const support = await probeNetns()
  if (!support.available) {
    t.plan(0, `skipped: ${support.reason}`)
    return
  }
  const sitesDir = await copySites()
  const stateDir = await mkdtemp(join(tmpdir(), 'flexseat-state-'))
  const delayArgs = ['--wan-delay', String(DELAY_MS)]
  // --verbose: the nodes' own lease lines (INFO lease active, WARN lease suspended) in the terminal.
  const run = await startSim(['--netns', '--verbose', ...delayArgs, '--sites-dir', sitesDir, '--state-dir', stateDir])
  t.teardown(async () => {
    // Whatever happened: the launcher and its children end, then the network goes.
    await run.process.kill()
    await eventually(() => processesMentioning(stateDir).length === 0, 10_000)
    await removeWan().catch((error: unknown) => t.comment(`cleanup: ${(error as Error).message}`))
    await rm(sitesDir, { recursive: true, force: true })
    await rm(stateDir, { recursive: true, force: true })
  })
  await run.waitFor(/│ ready$|could not/m, 60_000)
  t.notMatch(run.output(), /could not/, 'the simulation starts in netns mode')
  const token = (await readFile(join(stateDir, 'netns', 'admin-token'), 'utf8')).trim()
  const original = await loadSites(sitesDir)
  const sites = await loadSites(join(stateDir, 'netns', 'sites'))

  // Every site at an address of its own, ports as configured, and its processes in its namespace.
  t.match(run.output(), /multi-host mode: bridge fxs0 10\.77\.0\.1\/24/, 'the map shows the bridge')
  for (const [i, site] of sites.entries()) {
    const address = `10.77.0.${10 + i}`
    t.equal(site.registry.listen, `${address}:${original[i]!.registry.listen.split(':')[1]}`, `${site.id}: registry at ${address}, same port`)
    t.match(run.output(), new RegExp(`${site.id}\\s+${address.replace(/\./g, '\\.')}\\s+namespace fxs-${site.id}`), `map: ${site.id} at ${address}`)
    const inside = new Set((await execFileAsync('ip', ['netns', 'pids', `fxs-${site.id}`])).stdout.split('\n').filter(Boolean).map(Number))
    const own = [
      ...processesMentioning(join(stateDir, 'netns', 'etcd', site.etcd.name)),
      ...processesMentioning('registry/dist/main.js', `--site\0${site.id}\0`, stateDir),
      ...processesMentioning(engineProcessNeedle(), `--contact\0${site.sip.contact}\0`),
      ...processesMentioning('sip-node/dist/main.js', `--site\0${site.id}\0`, stateDir),
    ]
    t.equal(own.length, 4, `${site.id}: etcd, registry, SIP engine and SIP node found`)
    t.ok(own.every((pid) => inside.has(pid)), `${site.id}: all four run inside fxs-${site.id}`)
  }
  const status = await fetchClusterStatus(sites[0]!.registry.listen, token)
  t.same(status.instances.map((instance) => instance.address).sort(), sites.map((site) => site.registry.listen).sort(), 'the cluster lists each registry at its own address')

  // A request from one site to another and its answer cost 2 × the one-way delay (an etcd client
  // call to another site's member; /version is answered by the member itself, no quorum read,
  // so inside the site it is not delayed); from the host, the delay once (netem only: the relay
  // leaves the host's traffic alone).
  t.match(run.output(), support.netem ? /\(round trip \d+ ms\); by netem/ : /\(round trip \d+ ms\); by the userspace relay \(no netem here\) in namespace fxs-\.relay at 10\.77\.0\.2/, 'the map says how the delay is applied')
  const [a, b] = [sites[0]!, sites[1]!]
  const crossMs = await requestTime(`fxs-${a.id}`, `${b.etcd.clientUrl}/version`)
  const localMs = await requestTime(`fxs-${b.id}`, `${b.etcd.clientUrl}/version`)
  const started = performance.now()
  await fetchClusterStatus(b.registry.listen, token)
  const statusMs = performance.now() - started
  t.comment(`GET /version ${a.id} → ${b.id}'s etcd: ${crossMs.toFixed(1)} ms (inside ${b.id}: ${localMs.toFixed(1)} ms); GetClusterStatus host → ${b.id} on a new channel: ${statusMs.toFixed(1)} ms`)
  t.ok(crossMs >= 2 * DELAY_MS - 1, `an etcd request ${a.id} → ${b.id} and its answer take at least 2 × ${DELAY_MS} ms`)
  if (support.netem) t.ok(statusMs >= DELAY_MS - 1, `GetClusterStatus from the host takes at least one host round trip (${DELAY_MS} ms)`)
  else {
    // The etcd members' peer traffic crosses the relay: it holds their connections, from each
    // member's own address (the relay is transparent) to another site's peer port.
    const relayed = (await execFileAsync('ip', ['netns', 'exec', 'fxs-.relay', 'ss', '-Htn', 'state', 'established'])).stdout
    const peerPort = b.etcd.peerUrl.split(':').at(-1)!
    t.match(relayed, new RegExp(`10\\.77\\.0\\.\\d+:${peerPort}\\s+10\\.77\\.0\\.(?!${b.etcd.peerUrl.split('.').at(-1)!.split(':')[0]})\\d+:\\d+`), `the relay carries etcd peer traffic from another site to ${b.id}'s member`)
  }

  // Cut the leader's site off.
  const cut = status.leader?.siteId ?? b.id
  const other = sites.find((site) => site.id !== cut)!
  const cutSite = sites.find((site) => site.id === cut)!
  const leaseWasActive = new RegExp(`^${cut} sip-node\\s+│ INFO\\s+lease active`, 'm').test(run.output())
  const beforeCut = run.output().length
  const cutting = await startSim(['cut', cut])
  t.equal((await cutting.exit(10_000)).code, 0, `flexseat-sim cut ${cut}: exit code 0`)
  t.match(cutting.output(), new RegExp(`${cut} is cut off`))
  t.ok(
    await until(async () => {
      const seen = await fetchClusterStatus(other.registry.listen, token, { timeoutMs: 1_500 })
      return seen.leader !== undefined && seen.leader.siteId !== cut && !seen.instances.some((instance) => instance.siteId === cut)
    }, 30_000),
    `seen from ${other.id}: ${cut}'s registry dropped out of the cluster and another site leads`,
  )
  t.notOk(await isHealthy(cutSite.etcd.clientUrl), `${cut}'s etcd member is out of reach from the host`)
  await t.rejects(fetchClusterStatus(cutSite.registry.listen, token, { timeoutMs: 1_000 }), `${cut}'s registry is out of reach from the host`)
  const noLease = leaseWasActive ? false : `${cut}'s SIP node never reported "lease active" before the cut, so it has no lease to suspend`
  if (leaseWasActive) await run.waitFor(new RegExp(`^${cut} sip-node\\s+│ WARN\\s+lease suspended`, 'm'), 20_000, beforeCut)
  t.pass(`${cut}'s SIP node logs "lease suspended"`, { skip: noLease })

  // Heal it: it rejoins.
  const beforeHeal = run.output().length
  const healing = await startSim(['heal', cut])
  t.equal((await healing.exit(10_000)).code, 0, `flexseat-sim heal ${cut}: exit code 0`)
  t.match(healing.output(), new RegExp(`${cut} is connected`))
  t.ok(
    await until(async () => (await fetchClusterStatus(other.registry.listen, token, { timeoutMs: 1_500 })).instances.some((instance) => instance.siteId === cut), 30_000),
    `seen from ${other.id}: ${cut}'s registry is back in the cluster`,
  )
  t.ok(
    await until(async () => (await fetchClusterStatus(cutSite.registry.listen, token, { timeoutMs: 1_500 })).instances.length === sites.length, 20_000),
    `${cut}'s registry answers the host again and sees every site`,
  )
  if (leaseWasActive) await run.waitFor(new RegExp(`^${cut} sip-node\\s+│ INFO\\s+lease active`, 'm'), 20_000, beforeHeal)
  t.pass(`${cut}'s SIP node logs "lease active" again`, { skip: noLease })
  t.notMatch(run.output(), /ended unexpectedly/, 'no process ended during the cut')

  // Ctrl-C: everything stops and the network is gone.
  run.process.signal('SIGINT')
  t.same(await run.exit(30_000), { code: 0, signal: null }, 'SIGINT: exit code 0')
  t.match(run.output(), /removed the network namespaces and the bridge fxs0/)
  t.same(await wanNamespaces(), [], 'no fxs-* namespace is left')
  t.same(await wanLinks(), [], 'no fxs0 bridge or fxs-* veth is left')
  t.ok(await eventually(() => processesMentioning(stateDir).length === 0, 5_000), 'no process of the run is left')

  const lost = await startSim(['cut', cut])
  t.equal((await lost.exit(10_000)).code, 1, 'cut without a running simulation: exit code 1')
  t.match(lost.output(), new RegExp(`there is no namespace fxs-${cut}: is a simulation .* running with --netns\\?`))
})

t.test('--wan-path netem without netem is refused before anything starts', async (t) => {
  const support = await probeNetns()
  if (!support.available || support.netem) {
    t.plan(0, support.available ? 'skipped: this kernel has netem' : `skipped: ${support.reason}`)
    return
  }
  const stateDir = await mkdtemp(join(tmpdir(), 'flexseat-state-'))
  t.teardown(() => rm(stateDir, { recursive: true, force: true }))
  const run = await startSim(['--netns', '--wan-delay', String(DELAY_MS), '--wan-path', 'netem', '--state-dir', stateDir])
  t.teardown(() => run.process.kill())
  t.equal((await run.exit(20_000)).code, 1, 'exit code 1')
  t.match(run.output(), /could not set up the multi-host mode: --wan-path netem needs tc's netem: .*sch_netem/)
  t.same(await wanNamespaces(), [], 'no namespace was created')
  t.same(await wanLinks(), [], 'no link was created')
})

/** Milliseconds an HTTP GET of `url` (on a new connection, after a first one) takes from inside namespace `ns`. */
async function requestTime(ns: string, url: string): Promise<number> {
  // The second of two requests: the first pays for loading the http module and warming up.
  const script = `const http = require('node:http'); const get = (then) => { const t0 = process.hrtime.bigint(); http.get(${JSON.stringify(url)}, { agent: false }, (res) => { res.resume(); res.on('end', () => then(Number(process.hrtime.bigint() - t0) / 1e6)) }).on('error', (e) => { console.error(e.message); process.exit(1) }) }; get(() => get((ms) => console.log(ms)))`
  const { stdout } = await execFileAsync('ip', ['netns', 'exec', ns, 'env', '-u', 'NODE_OPTIONS', process.execPath, '-e', script])
  return Number(stdout.trim())
}

/** Polls `check` (a throw counts as false) until it holds or `timeoutMs` passes. */
async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check().catch(() => false)) return true
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

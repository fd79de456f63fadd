import t from 'tap'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { loadSites } from '@flexseat/config'
import { fetchClusterStatus } from '@flexseat/sim'
import { copySitesOnFreePorts } from '../helpers/sim-sites'
import { onRealDrachtio } from '../helpers/engines'
import { engineProcessNeedle, eventually, processesMentioning, startSim } from '../helpers/sim-run'
import { Cli } from '../helpers/cli'
import { fetchAsPhone } from '../helpers/provisioning'

// npm start, end to end: the launcher runs the three sites (ports moved to free ones), prints a
// map once a leader is elected (naming the admin token's file, never the token), serves gRPC with
// the saved admin token, and Ctrl-C stops
// every etcd and registry process it started, with exit code 0. A second start resumes.
t.setTimeout(90_000)

t.test('starts the sites, answers with a leader and three instances, stops cleanly on SIGINT, resumes', async (t) => {
  const sitesDir = await copySitesOnFreePorts()
  const stateDir = await mkdtemp(join(tmpdir(), 'flexseat-state-'))
  t.teardown(() => rm(sitesDir, { recursive: true, force: true }))
  t.teardown(() => rm(stateDir, { recursive: true, force: true }))
  const sites = await loadSites(sitesDir)
  const etcdPids = (): number[] => processesMentioning(join(stateDir, 'etcd') + '/')
  const registryPids = (): number[] => processesMentioning('registry/dist/main.js', sitesDir)
  const nodePids = (): number[] => processesMentioning('sip-node/dist/main.js', sitesDir)

  const run = await startSim(['--sites-dir', sitesDir, '--state-dir', stateDir])
  t.teardown(() => run.process.kill())
  await run.waitFor(/│ ready$/m, 40_000)
  const output = run.output()

  // The map names every site, its etcd member and its registry address.
  for (const site of sites) {
    t.match(output, new RegExp(`${site.id}\\s+${site.etcd.name}\\s+client ${site.etcd.clientUrl}`), `map: ${site.id} etcd`)
    t.match(output, new RegExp(`${site.id}\\s+${site.registry.listen.replace(/\./g, '\\.')}`), `map: ${site.id} registry at its configured address`)
  }
  const leaderLine = /leader: (\S+) \(/.exec(output)
  t.ok(leaderLine && sites.some((site) => site.id === leaderLine[1]), 'map names the leader site')
  t.match(output, /FLEXSEAT_TOKEN=\$\(cat \S*admin-token\) npx flexseat cluster status/, 'map says how to use the CLI')

  // The map names the saved admin token's file, never the token itself; the file is private.
  const token = (await readFile(join(stateDir, 'admin-token'), 'utf8')).trim()
  t.ok(/^\S{16,}$/.test(token), 'the admin token is saved in <state>/admin-token')
  t.notOk(output.includes(token), 'the admin token is not in the output')
  t.match(output, /admin token file: \S*admin-token\b/, 'the map names the token file')
  t.equal((await stat(join(stateDir, 'admin-token'))).mode & 0o777, 0o600, 'admin-token is mode 0600')
  const tokensFile = await readFile(join(stateDir, 'tokens.yaml'), 'utf8')
  t.notOk(tokensFile.includes(token!), 'the tokens file holds no clear token')
  const entries = (parse(tokensFile) as { tokens: { role: string; site?: string; sha256: string }[] }).tokens
  t.same(entries.map((entry) => `${entry.role}${entry.site === undefined ? '' : ` ${entry.site}`}`).sort(), ['admin', 'portal', 'registry', ...sites.flatMap((site) => [`sip-node ${site.id}`, `provisioning ${site.id}`])].sort(), 'an admin, a cluster and a portal token, and one token per branch\'s SIP node and provisioning service')
  for (const site of sites) {
    for (const kind of ['sip-node', 'provisioning']) {
      const siteToken = (await readFile(join(stateDir, `${kind}-${site.id}-token`), 'utf8')).trim()
      t.equal(entries.find((entry) => entry.sha256 === createHash('sha256').update(siteToken).digest('hex'))?.site, site.id, `${site.id}'s ${kind} token names ${site.id}`)
    }
  }
  t.equal(entries.find((entry) => entry.sha256 === createHash('sha256').update(token!).digest('hex'))?.role, 'admin', 'the saved token is the admin one')

  // Every registry answers ClusterService with the saved token: one leader, three instances.
  for (const site of sites) {
    const status = await fetchClusterStatus(site.registry.listen, token!)
    t.ok(status.leader, `${site.id}: a leader`)
    t.same(status.instances.map((instance) => instance.siteId).sort(), sites.map((s) => s.id), `${site.id}: three instances, one per site`)
    t.equal(status.leader?.siteId, leaderLine?.[1], `${site.id}: the leader the map printed`)
  }

  t.match(output, onRealDrachtio() ? /│ SIP engine: drachtio-server \(/ : /│ SIP engine: embedded/, 'the engine the sites run on is named')
  const enginePids = (): number[] => sites.flatMap((site) => processesMentioning(engineProcessNeedle(), site.sip.contact))
  const provisioningPids = (): number[] => processesMentioning('provisioning/dist/main.js', sitesDir)
  const portalPids = (): number[] => processesMentioning('portal/dist/main.js', sitesDir)
  const pids = [...etcdPids(), ...registryPids(), ...nodePids(), ...enginePids(), ...provisioningPids(), ...portalPids()]
  t.equal(provisioningPids().length, 3, 'three provisioning services')
  t.equal(portalPids().length, 3, 'three portals')
  // The map names each branch's portal, which serves its page there.
  for (const site of sites) {
    const url = new RegExp(`${site.id}\\s+(http://127\\.0\\.0\\.1:\\d+)\\n`).exec(output.slice(output.indexOf('web portal (')))?.[1]
    t.ok(url, `map: ${site.id}'s portal`)
    const page = await fetch(`${url}/`)
    t.equal(page.status, 200, `${site.id}'s portal serves its page`)
    t.match(await page.text(), '<html lang="en">')
  }
  // The map names each branch's provisioning service, and a simulated phone fetches its file there
  // with its own credentials (the demo directory gives desk-1 a Yealink MAC).
  const demo = parse(await readFile(join(stateDir, 'directory.yaml'), 'utf8')) as { devices: { id: string; mac: string; sipPassword: string }[] }
  for (const site of sites) {
    const url = new RegExp(`${site.id}\\s+(http://127\\.0\\.0\\.1:\\d+)\\n`).exec(output.slice(output.indexOf('provisioning (')))?.[1]
    t.ok(url, `map: ${site.id}'s provisioning service`)
    const desk = demo.devices.find((d) => d.id === `${site.id}-desk-1`)!
    const res = await fetchAsPhone(`${url}/${desk.mac}.cfg`, { username: desk.id, password: desk.sipPassword })
    t.equal(res.status, 200, `${site.id}-desk-1 fetches its file`)
    t.match(res.text, 'linekey.1.label = Login', 'an idle flex desk with a Login key')
  }
  t.equal(etcdPids().length, 3, 'three etcd processes')
  t.equal(registryPids().length, 3, 'three registry processes')
  t.equal(nodePids().length, 3, 'three SIP nodes')
  t.equal(enginePids().length, 3, 'three SIP engines')
  for (const site of sites) {
    t.match(output, new RegExp(`${site.id}\\s+${site.sip.contact.replace(/[.;]/g, (c) => `\\${c}`)}`), `map: ${site.id} SIP address`)
    t.match(output, new RegExp(`${site.id}-desk-1 \\(\\d{4}\\)`), `map: ${site.id}'s phones`)
  }
  t.match(output, /passwords and PINs in \S*directory\.yaml/, 'the map names the file with the phones\' secrets')

  // A quiet terminal: no process's INFO lines (they go to <state>/logs/<site>-<kind>.log), the
  // map within the first lines. Guard tried: main.ts printing every line again (as --verbose):
  // the INFO lines of the registries and nodes are found here.
  t.notMatch(output, /│ INFO /, 'no INFO line of a process in the terminal')
  t.ok(output.split('\n').findIndex((line) => line === 'flexseat is running:') < 12, 'the map comes within the first lines')
  for (const site of sites) {
    for (const kind of ['registry', 'sip-node', 'sip-engine', 'etcd']) {
      const log = await readFile(join(stateDir, 'logs', `${site.id}-${kind}.log`), 'utf8').catch(() => '')
      // drachtio-server writes plain text lines of its own; every other process JSON records.
      const plain = kind === 'sip-engine' && onRealDrachtio()
      t.ok(log.split('\n').some((line) => (plain ? line.trim() !== '' : line.startsWith('{'))), `${site.id} ${kind} logs ${plain ? 'its lines' : 'JSON records'} to logs/${site.id}-${kind}.log`)
    }
  }
  const nodeLog = await readFile(join(stateDir, 'logs', 'berlin-sip-node.log'), 'utf8')
  t.match(nodeLog, /"msg":"sip node ready"/, 'the node log holds what the terminal no longer shows')
  // `flexseat logs`: the list, one process's log shortened, an unknown one refused.
  const env = { FLEXSEAT_STATE_DIR: stateDir }
  const list = await (await Cli.start(['logs'], env)).result()
  t.equal(list.code, 0, list.stderr)
  t.match(list.stdout, /berlin\s+sip-node\s+\d+ KiB/, 'flexseat logs lists the logs')
  const shown = await (await Cli.start(['logs', 'berlin', 'sip-node'], env)).result()
  t.equal(shown.code, 0, shown.stderr)
  t.match(shown.stdout, /^\d\d:\d\d:\d\d\.\d{3} INFO  sip node ready/m, 'flexseat logs berlin sip-node: time, level, message')
  const follow = await Cli.start(['logs', 'berlin', 'registry', '-f', '--state-dir', stateDir], {})
  t.teardown(() => follow.process.kill())
  await follow.waitFor(/registry listening/)
  const missing = await (await Cli.start(['logs', 'berlin', 'nothing'], env)).result()
  t.equal(missing.code, 1, 'an unknown log: exit 1')
  t.match(missing.stderr, /no nothing log of berlin in .*; there are:/)
  // Guard tried: the engine secret back on the engines' command line (--secret): found below.
  const engineSecret = (await readFile(join(stateDir, 'engine-secret'), 'utf8')).trim()
  t.same(commandLinesContaining(engineSecret), [], 'the engines\' control secret is on no command line (ps shows every one)')

  run.process.signal('SIGINT')
  const exit = await run.exit(20_000)
  t.same(exit, { code: 0, signal: null }, 'SIGINT: exit code 0')
  t.match(run.output(), /stopping: portals, provisioning services, SIP nodes, SIP engines, registries, then etcd/)
  // -f follows the file: the registry's last words of the stop reach it.
  await follow.waitFor(/registry stopped/)
  follow.process.signal('SIGINT')
  // Polled: a tethered child holds no handle, and a CLI that ignored the signal must fail here, not hang.
  t.ok(await eventually(() => !follow.process.running, 5_000), 'flexseat logs -f ends on Ctrl-C')
  t.ok(await eventually(() => pids.every((pid) => !alive(pid)), 5_000), 'no etcd, registry, engine, node, provisioning or portal process is left')

  // A second start resumes on the same data and tokens.
  const again = await startSim(['--sites-dir', sitesDir, '--state-dir', stateDir])
  t.teardown(() => again.process.kill())
  await again.waitFor(/│ ready$/m, 40_000)
  t.equal((await readFile(join(stateDir, 'admin-token'), 'utf8')).trim(), token, 'the same admin token')
  t.notOk(again.output().includes(token), 'the admin token is not in the output of the second run either')
  const status = await fetchClusterStatus(sites[0]!.registry.listen, token!)
  t.ok(status.leader, 'a leader again')
  again.process.signal('SIGTERM')
  t.same(await again.exit(20_000), { code: 0, signal: null }, 'SIGTERM: exit code 0')
  t.ok(await eventually(() => etcdPids().length === 0 && registryPids().length === 0, 5_000), 'nothing left after the second run')
})

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Pids of every process (tether wrappers included) whose command line contains `text`. */
function commandLinesContaining(text: string): number[] {
  return readdirSync('/proc').filter((entry) => {
    if (!/^\d+$/.test(entry)) return false
    try {
      return readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)
    } catch {
      return false
    }
  }).map(Number)
}

// The Prometheus metrics of running services, scraped over HTTP (FLEXSEAT_METRICS_LISTEN) after
// real traffic over real SIP (sipp phones, SIP engines, SIP nodes, registries, etcd, gRPC):
// sign-ins by every method the registry knows (`*51` at a phone, the softkey application's Login
// through a provisioning token, an administrator's), wrong PINs up to a lockout and a refusal, a
// takeover between branches (the revocation latency at the old branch), registrations, a call.
// Every series named `flexseat_*` must be in the catalogue (packages/telemetry/src/metric-catalogue.ts,
// which the Grafana dashboard is checked against) with exactly its labels, and every catalogued
// metric must be served by its service. Guards tried: the softkey Login counted as `phone`, and
// the node not counting REGISTERs: the method and registration checks fail, and the node no
// longer serves a catalogued metric.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { bearer, unary } from '@flexseat/proto'
import { METRIC_CATALOGUE, catalogued, type MetricName } from '@flexseat/telemetry'
import { freePorts } from '@flexseat/sim'
import { Branches, PIN, statusLine } from '../helpers/branches'
import { onRealDrachtio } from '../helpers/engines'

/** One sample of the Prometheus text format. */
interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

function parseSamples(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line)
    if (match === null) continue
    const labels: Record<string, string> = {}
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!
    samples.push({ name: match[1]!, labels, value: Number(match[3]) })
  }
  return samples
}

async function scrape(address: string): Promise<Sample[]> {
  const res = await fetch(`http://${address}/metrics`)
  if (res.status !== 200) throw new Error(`${address}/metrics answered ${res.status}`)
  return parseSamples(await res.text())
}

/** The address a service logged in `metrics listening` (pino JSON lines). */
function listening(lines: Iterable<string | { msg: string; [key: string]: unknown }>): string {
  for (const line of lines) {
    const parsed = typeof line === 'string' ? (() => { try { return JSON.parse(line) as { msg?: string; address?: string } } catch { return undefined } })() : line
    if (parsed?.msg === 'metrics listening' && typeof parsed['address'] === 'string') return parsed['address']
  }
  throw new Error('no `metrics listening` line')
}

/** The samples of `metric` (a histogram: its `_count` series) whose labels include `labels`. */
function find(samples: Sample[], metric: string, labels: Record<string, string>): Sample[] {
  return samples.filter((s) => s.name === metric && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
}

t.setTimeout(60_000)

t.test('every service serves the catalogued metrics with their labels, counted from real traffic', async (t) => {
  const sites = ['amsterdam', 'berlin']
  const enginePorts = await freePorts(sites.length)
  const branches = await Branches.start(t, {
    sites,
    confirmationLeaseSeconds: 3,
    logLevel: 'info',
    nodeEnv: { FLEXSEAT_METRICS_LISTEN: '127.0.0.1:0' },
    registryEnv: { FLEXSEAT_METRICS_LISTEN: '127.0.0.1:0', FLEXSEAT_LOCKOUT_MAX_FAILURES: '2' },
    engineEnv: (siteId) => ({ FLEXSEAT_METRICS_LISTEN: `127.0.0.1:${enginePorts[sites.indexOf(siteId)]}` }),
  })
  const [amsDesk1, amsDesk2, berDesk1, amsFixed] = await Promise.all([
    branches.phone('amsterdam', 'ams-desk-1').start(),
    branches.phone('amsterdam', 'ams-desk-2').start(),
    branches.phone('berlin', 'ber-desk-1').start(),
    branches.phone('amsterdam', 'ams-fixed').start(),
  ])

  // Sign-ins: *51 at a phone, then a takeover from the other branch (the old phone is told).
  t.equal(statusLine(await amsDesk1.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001')
  t.equal(statusLine(await berDesk1.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001')
  await amsDesk1.waitForMessage(/signed in at/)
  // Wrong PINs up to the lockout at that desk (2 here), and a refusal of the worker locked there.
  const wrong = PIN['1003'] === '9999' ? '9998' : '9999'
  for (let i = 0; i < 3; i += 1) t.match(statusLine(await amsDesk2.dial(`*51*1003*${wrong}`)), /^4\d\d /, `wrong PIN ${i + 1} refused`)
  // The softkey application's sign-in: a Login with the provisioning service's token of the branch.
  const { seat } = branches.admin()
  const desk = branches.device('ams-desk-1')
  await unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: desk.id, extension: '1004', pin: PIN['1004']!, durationHours: 0 }, { metadata: bearer(branches.registry.provisioningTokens['amsterdam']!), timeoutMs: 10_000 })
  // An administrator's sign-in (no PIN).
  await unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: branches.device('ber-desk-2').id, extension: '1002', pin: '', durationHours: 0 }, { metadata: branches.registry.metadata('admin'), timeoutMs: 10_000 })
  // A call, routed to the seated worker at the other branch.
  t.ok((await amsFixed.dial('1001')).answered, 'the call to 1001 was answered')

  const registries = (await Promise.all(branches.registry.instances.map((instance) => scrape(listening(instance.logs))))).flat()
  const nodes = (await Promise.all(sites.map((site) => scrape(listening(branches.branch(site).nodeLogs))))).flat()
  const engines = onRealDrachtio() ? undefined : (await Promise.all(enginePorts.map((port) => scrape(`127.0.0.1:${port}`)))).flat()
  const served: Record<'registry' | 'sip-node' | 'sip-engine', Sample[] | undefined> = { registry: registries, 'sip-node': nodes, 'sip-engine': engines }

  await t.test('names and label sets: every flexseat_ series is catalogued, every catalogued metric is served', async (t) => {
    for (const [service, samples] of Object.entries(served)) {
      if (samples === undefined) continue
      const seen = new Set<MetricName>()
      for (const sample of samples.filter((s) => s.name.startsWith('flexseat_'))) {
        const metric = catalogued(sample.name)
        if (!t.ok(metric, `${service}: ${sample.name} is in the catalogue`) || metric === undefined) continue
        const entry = METRIC_CATALOGUE[metric]
        t.ok(entry.service === service || entry.service === 'every', `${service}: ${metric} is catalogued as ${entry.service}'s`)
        const labels = Object.keys(sample.labels).filter((label) => label !== 'le').sort()
        if (!seen.has(metric)) t.same(labels, [...entry.labels].sort(), `${service}: ${metric} has the labels ${entry.labels.join(', ') || '(none)'}`)
        seen.add(metric)
      }
      const own = Object.entries(METRIC_CATALOGUE).filter(([, entry]) => entry.service === service || entry.service === 'every')
      const expected = own.filter(([, entry]) => !('lazy' in entry)).map(([name]) => name)
      t.same([...seen].filter((name) => !('lazy' in METRIC_CATALOGUE[name])).sort(), expected.sort(), `${service} serves every catalogued metric of its own`)
    }
  })

  await t.test('the label values of what happened', async (t) => {
    for (const via of ['phone', 'softkey', 'admin']) {
      t.ok(find(registries, 'flexseat_sign_ins_total', { flexseat_outcome: 'ok', flexseat_via: via }).some((s) => s.value >= 1), `a sign-in counted by method ${via}`)
    }
    t.ok(find(registries, 'flexseat_sign_ins_total', { flexseat_outcome: 'wrong_pin', flexseat_via: 'phone' }).some((s) => s.value >= 1), 'a wrong PIN counted as an outcome')
    t.ok(find(registries, 'flexseat_sign_ins_total', { flexseat_outcome: 'locked_at_desk', flexseat_via: 'phone' }).some((s) => s.value >= 1), 'a worker locked at that desk counted as an outcome')
    t.ok(find(registries, 'flexseat_pin_failures_total', { flexseat_site: 'amsterdam' }).some((s) => s.value >= 2), 'wrong PINs by site')
    t.ok(find(registries, 'flexseat_pin_lockouts_total', { flexseat_site: 'amsterdam', flexseat_pin_scope: 'worker-at-desk' }).some((s) => s.value >= 1), 'the lockout (at one desk: wrong PINs from one desk never lock a worker everywhere)')
    t.ok(find(registries, 'flexseat_etcd_txn_duration_count', { flexseat_txn: 'login', flexseat_outcome: 'committed' }).some((s) => s.value >= 1), 'etcd transaction latency of the logins')
    t.ok(find(registries, 'flexseat_leader_changes_total', { flexseat_change: 'elected' }).some((s) => s.value >= 1), 'a leader was elected')
    for (const stage of ['applied', 'told']) {
      t.ok(find(nodes, 'flexseat_revocation_duration_count', { flexseat_site: 'amsterdam', flexseat_stage: stage }).some((s) => s.value >= 1), `revocation latency, stage ${stage}, at the old branch`)
    }
    for (const site of sites) t.same(find(nodes, 'flexseat_confirmation_lease_active', { flexseat_site: site }).map((s) => s.value), [1], `${site} holds its confirmation lease`)
    t.ok(find(nodes, 'flexseat_phones_registered', { flexseat_site: 'amsterdam' }).some((s) => s.value >= 3), 'the phones online at amsterdam')
    t.ok(find(nodes, 'flexseat_registrations_total', { flexseat_site: 'amsterdam', flexseat_outcome: 'ok' }).some((s) => s.value >= 3), 'registrations')
    t.ok(find(nodes, 'flexseat_registrations_total', { flexseat_site: 'amsterdam', flexseat_outcome: 'challenged' }).some((s) => s.value >= 3), 'the digest challenges before them')
    t.ok(find(nodes, 'flexseat_calls_routed_total', { flexseat_site: 'amsterdam', flexseat_source: 'phone' }).some((s) => s.value >= 1), 'a call routed by target')
    t.ok(find(nodes, 'flexseat_process_memory', { flexseat_memory_kind: 'rss' }).every((s) => s.value > 0), 'the nodes\' memory')
    if (engines !== undefined) {
      t.ok(find(engines, 'flexseat_engine_transactions_started_total', { flexseat_kind: 'server' }).some((s) => s.value >= 1), 'engine transactions')
      t.ok(find(engines, 'flexseat_process_memory', { flexseat_memory_kind: 'heap_used' }).some((s) => s.value > 0), 'engine memory')
    }
  })
})

import t from 'tap'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { loadSites, type SiteConfig } from '@flexseat/config'
import { drachtioServerBin } from '../helpers/engines'

// docker-compose.yml cannot run here (no Docker engine): check it against sites/ instead.
const ROOT = join(__dirname, '..', '..')

interface Service {
  image?: string
  build?: unknown
  command?: string[]
  environment?: Record<string, string>
  ports?: string[]
  networks?: string[]
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test: string[] }
  volumes?: string[]
  profiles?: string[]
  restart?: string
}
interface Compose {
  services: Record<string, Service>
  networks: Record<string, unknown>
  volumes: Record<string, unknown>
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as Compose
const services = compose.services

/** `${NAME:-default}` → default (what compose uses when the variable is unset). */
function withDefaults(text: string): string {
  return text.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')
}

/** Published ports as { hostIp, hostPort, containerPort, protocol }. */
function published(service: Service): { hostIp: string; hostPort: number; containerPort: number; protocol: string }[] {
  return (service.ports ?? []).map((spec) => {
    const match = /^(127\.0\.0\.1):(\d+):(\d+)(?:\/(udp|tcp))?$/.exec(spec)
    if (!match) throw new Error(`unexpected port spec ${spec}`)
    return { hostIp: match[1]!, hostPort: Number(match[2]), containerPort: Number(match[3]), protocol: match[4] ?? 'tcp' }
  })
}

function flag(command: string[] | undefined, name: string): string | undefined {
  const prefix = `--${name}=`
  return command?.find((arg) => arg.startsWith(prefix))?.slice(prefix.length)
}

function portOf(hostPort: string): number {
  return Number(hostPort.slice(hostPort.lastIndexOf(':') + 1).split(';')[0])
}

function isPinned(image: string): boolean {
  const slash = image.lastIndexOf('/')
  const colon = image.lastIndexOf(':')
  if (colon <= slash) return false
  const tag = image.slice(colon + 1).split('@')[0]!
  return tag !== '' && tag !== 'latest'
}

/** The observability services beside the branches'. */
const OBSERVABILITY = ['otel-collector', 'jaeger', 'prometheus', 'grafana']

t.test('every site has its etcd member, registry, drachtio-server, SIP node, provisioning service and portal', async (t) => {
  const sites = await loadSites(join(ROOT, 'sites'))
  t.equal(sites.length, 3)
  for (const site of sites) {
    for (const kind of ['etcd', 'registry', 'drachtio', 'sip-node', 'provisioning', 'portal']) t.ok(services[`${kind}-${site.id}`], `${kind}-${site.id} exists`)
    t.ok(compose.networks[`site-${site.id}`] !== undefined, `network site-${site.id}`)
  }
  t.ok(compose.networks.backbone !== undefined, 'backbone network')
  const expected = new Set(sites.flatMap((site) => ['etcd', 'registry', 'drachtio', 'sip-node', 'provisioning', 'portal'].map((kind) => `${kind}-${site.id}`)))
  for (const name of OBSERVABILITY) expected.add(name)
  t.same(Object.keys(services).filter((name) => !expected.has(name)), [], 'no service of an unknown site')
})

t.test('etcd: names, initial cluster of all three members, published client ports', async (t) => {
  const sites = await loadSites(join(ROOT, 'sites'))
  const members = sites.map((site) => `${site.etcd.name}=http://etcd-${site.id}:2380`).sort()
  for (const site of sites) {
    const etcd = services[`etcd-${site.id}`]!
    t.equal(flag(etcd.command, 'name'), site.etcd.name, `${site.id}: member name as in the site file`)
    t.same(flag(etcd.command, 'initial-cluster')?.split(',').sort(), members, `${site.id}: initial-cluster lists all three members`)
    t.equal(flag(etcd.command, 'initial-advertise-peer-urls'), `http://etcd-${site.id}:2380`)
    t.equal(flag(etcd.command, 'advertise-client-urls'), `http://etcd-${site.id}:2379`)
    t.same(published(etcd), [{ hostIp: '127.0.0.1', hostPort: portOf(new URL(site.etcd.clientUrl).host), containerPort: 2379, protocol: 'tcp' }], `${site.id}: client port as in the site file`)
    t.same(etcd.healthcheck?.test.slice(1), ['etcdctl', '--endpoints=http://127.0.0.1:2379', 'endpoint', 'health'])
    t.same(etcd.networks, ['backbone'])
  }
})

t.test('registries: command, environment, ports, tokens file', async (t) => {
  const sites = await loadSites(join(ROOT, 'sites'))
  const endpoints = sites.map((site) => flag(services[`etcd-${site.id}`]!.command, 'advertise-client-urls')).sort()
  for (const site of sites) {
    const registry = services[`registry-${site.id}`]!
    t.same(registry.command, ['node', 'packages/registry/dist/main.js', '--site', site.id])
    const env = registry.environment ?? {}
    t.same(env.FLEXSEAT_ETCD_ENDPOINTS?.split(',').sort(), endpoints, `${site.id}: every etcd member`)
    t.equal(env.FLEXSEAT_ETCD_ENDPOINTS?.split(',')[0], `http://etcd-${site.id}:2379`, `${site.id}: its own member first (the registry's calls go there while it answers)`)
    t.equal(env.FLEXSEAT_REGISTRY_LISTEN, '0.0.0.0:50051')
    t.equal(env.FLEXSEAT_ADVERTISE_ADDRESS, `registry-${site.id}:50051`)
    t.equal(env.FLEXSEAT_MOVE_ETCD_LEADER, 'true', `${site.id}: while it leads, etcd's raft leader is moved to its own member`)
    t.equal(env.FLEXSEAT_TOKENS_FILE, '/etc/flexseat/tokens.yaml')
    t.same(published(registry), [{ hostIp: '127.0.0.1', hostPort: portOf(site.registry.listen), containerPort: 50051, protocol: 'tcp' }], `${site.id}: registry port as in the site file`)
    t.ok(registry.networks?.includes('backbone') && registry.networks.includes(`site-${site.id}`), `${site.id}: on backbone and its site network`)
    t.match(registry.healthcheck?.test.join(' '), /deploy\/grpc-health-check\.js 127\.0\.0\.1:50051/)

    const mount = registry.volumes?.map(withDefaults).find((volume) => volume.includes(':/etc/flexseat/tokens.yaml'))
    t.ok(mount, `${site.id}: tokens file mounted`)
    const hostPath = join(ROOT, mount!.split(':')[0]!)
    t.ok(existsSync(hostPath), `${hostPath} exists`)
    const tokens = parse(readFileSync(hostPath, 'utf8')) as { tokens: { name: string; role: string; sha256: string }[] }
    for (const token of tokens.tokens) t.match(token.sha256, /^[0-9a-f]{64}$/, `${token.name}: a SHA-256 in hex`)
    const cluster = createHash('sha256').update(withDefaults(env.FLEXSEAT_CLUSTER_TOKEN ?? ''), 'utf8').digest('hex')
    t.equal(tokens.tokens.find((token) => token.sha256 === cluster)?.role, 'registry', `${site.id}: the default cluster token is the example's registry token`)
  }
  t.ok(existsSync(join(ROOT, 'deploy', 'grpc-health-check.js')), 'the health check script exists')
})

t.test('drachtio-server and SIP node: ports as in the site files', async (t) => {
  const sites: SiteConfig[] = await loadSites(join(ROOT, 'sites'))
  for (const site of sites) {
    const drachtio = services[`drachtio-${site.id}`]!
    const sipPort = portOf(site.sip.contact.replace(/^sips?:/, ''))
    t.same(
      published(drachtio).sort((a, b) => a.hostPort - b.hostPort || a.protocol.localeCompare(b.protocol)),
      [
        { hostIp: '127.0.0.1', hostPort: sipPort, containerPort: 5060, protocol: 'tcp' },
        { hostIp: '127.0.0.1', hostPort: sipPort, containerPort: 5060, protocol: 'udp' },
        { hostIp: '127.0.0.1', hostPort: portOf(site.sip.control), containerPort: 9022, protocol: 'tcp' },
      ].sort((a, b) => a.hostPort - b.hostPort || a.protocol.localeCompare(b.protocol)),
      `${site.id}: SIP and control ports`,
    )
    t.equal(flag(drachtio.command, 'port'), '9022')
    t.ok(drachtio.healthcheck, `${site.id}: drachtio has a health check`)
    const node = services[`sip-node-${site.id}`]!
    t.same(node.command, ['node', 'packages/sip-node/dist/main.js', '--site', site.id])
    t.equal(node.profiles, undefined, `${site.id}: the SIP node runs with the rest`)
    t.equal(drachtio.profiles, undefined)
  }
})

t.test('SIP nodes: their engine, every registry (own first), every branch\'s trunk, secrets as the engines', async (t) => {
  const sites: SiteConfig[] = await loadSites(join(ROOT, 'sites'))
  const tokensOfNodes = new Set<string>()
  for (const site of sites) {
    const node = services[`sip-node-${site.id}`]!
    const env = Object.fromEntries(Object.entries(node.environment ?? {}).map(([key, value]) => [key, withDefaults(String(value))]))
    const registries = env.FLEXSEAT_REGISTRY_ADDRESSES?.split(',') ?? []
    t.equal(registries[0], `registry-${site.id}:50051`, `${site.id}: its own registry first`)
    t.same([...registries].sort(), sites.map((s) => `registry-${s.id}:50051`).sort(), `${site.id}: every registry, for failover`)
    for (const address of registries) t.ok(services[address.split(':')[0]!], `${address} is a service`)
    t.equal(env.FLEXSEAT_DRACHTIO_ADDRESS, `drachtio-${site.id}:9022`)
    const drachtio = services[`drachtio-${site.id}`]!
    t.equal(flag(drachtio.command, 'secret'), undefined, `${site.id}: no secret on drachtio-server's command line (visible in ps)`)
    t.equal(env.FLEXSEAT_DRACHTIO_SECRET, withDefaults(String(drachtio.environment?.DRACHTIO_SECRET)), `${site.id}: the engine's secret, given to drachtio-server in its environment`)
    t.ok(env.FLEXSEAT_SIP_NODE_TOKEN, 'a sip-node token')
    const exampleSipNode = createHash('sha256').update(env.FLEXSEAT_SIP_NODE_TOKEN ?? '').digest('hex')
    const examples = parse(readFileSync(join(ROOT, 'deploy', 'tokens.example.yaml'), 'utf8')) as { tokens: { role: string; site?: string; sha256: string }[] }
    t.match(examples.tokens.find((token) => token.sha256 === exampleSipNode), { role: 'sip-node', site: site.id }, `${site.id}: the default token is the example file's sip-node token for ${site.id}`)
    tokensOfNodes.add(env.FLEXSEAT_SIP_NODE_TOKEN ?? '')
    t.ok(env.FLEXSEAT_TRUNK_SECRET, 'a trunk secret')
    t.ok(env.FLEXSEAT_SIP_NODE_STATE_DIR?.startsWith('/'), 'a state folder in the container: a restarted node takes its lease over at once')
    const trunks = new Map((env.FLEXSEAT_TRUNK_URIS ?? '').split(',').map((entry) => entry.split('=') as [string, string]))
    t.same([...trunks.keys()].sort(), sites.map((s) => s.id).sort(), `${site.id}: a trunk to every branch`)
    for (const [id, uri] of trunks) t.equal(uri, `sip:drachtio-${id}:5060`, `${site.id} reaches ${id} at its drachtio-server on the backbone`)
    t.ok(node.networks?.includes('backbone') && node.networks.includes(`site-${site.id}`), 'on the backbone and its branch network')
    t.same(Object.keys(node.depends_on ?? {}).sort(), [`drachtio-${site.id}`, `registry-${site.id}`])
  }
  const secrets = new Set(sites.map((site) => withDefaults(String(services[`sip-node-${site.id}`]!.environment?.FLEXSEAT_TRUNK_SECRET))))
  t.equal(secrets.size, 1, 'one trunk secret for every node')
  t.equal(tokensOfNodes.size, sites.length, 'a token of its own for every branch\'s node')
})

t.test('supervision: every service restarts by itself when its process dies', async (t) => {
  for (const [name, service] of Object.entries(services)) {
    t.ok(['unless-stopped', 'always', 'on-failure'].includes(service.restart ?? 'no'), `${name}: restart policy ${service.restart ?? 'none'}`)
  }
})

t.test('provisioning services: published as in the site files, every registry (own first), their branch\'s example token', async (t) => {
  const sites: SiteConfig[] = await loadSites(join(ROOT, 'sites'))
  const tokensOfServices = new Set<string>()
  for (const site of sites) {
    const service = services[`provisioning-${site.id}`]!
    const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([key, value]) => [key, withDefaults(String(value))]))
    t.same(service.command?.slice(-2), ['--site', site.id])
    const port = site.provisioning?.listen.split(':').at(-1)
    t.same(service.ports, [`127.0.0.1:${port}:8080`], `${site.id}: the port of provisioning.listen, published`)
    t.equal(env.FLEXSEAT_PROVISIONING_LISTEN, '0.0.0.0:8080')
    t.equal(env.FLEXSEAT_PROVISIONING_URL, `http://127.0.0.1:${port}`, 'the links in the files use the published address')
    const registries = env.FLEXSEAT_REGISTRY_ADDRESSES?.split(',') ?? []
    t.equal(registries[0], `registry-${site.id}:50051`, `${site.id}: its own registry first`)
    t.same([...registries].sort(), sites.map((s) => `registry-${s.id}:50051`).sort())
    const hash = createHash('sha256').update(env.FLEXSEAT_PROVISIONING_TOKEN ?? '').digest('hex')
    const examples = parse(readFileSync(join(ROOT, 'deploy', 'tokens.example.yaml'), 'utf8')) as { tokens: { role: string; site?: string; sha256: string }[] }
    t.match(examples.tokens.find((token) => token.sha256 === hash), { role: 'provisioning', site: site.id }, `${site.id}: the default token is the example file's provisioning token for ${site.id}`)
    tokensOfServices.add(env.FLEXSEAT_PROVISIONING_TOKEN ?? '')
    t.same(Object.keys(service.depends_on ?? {}), [`registry-${site.id}`])
  }
  t.equal(tokensOfServices.size, sites.length, 'a token of its own for every branch\'s provisioning service')
})

t.test('portals: published as in the site files, their origin the published address, every registry (own first), the example token', async (t) => {
  const sites: SiteConfig[] = await loadSites(join(ROOT, 'sites'))
  for (const site of sites) {
    const service = services[`portal-${site.id}`]!
    const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([key, value]) => [key, withDefaults(String(value))]))
    t.same(service.command, ['node', 'packages/portal/dist/main.js', '--site', site.id])
    const port = site.portal?.listen.split(':').at(-1)
    t.same(service.ports, [`127.0.0.1:${port}:8080`], `${site.id}: the port of portal.listen, published`)
    t.equal(env.FLEXSEAT_PORTAL_LISTEN, '0.0.0.0:8080')
    t.equal(env.FLEXSEAT_PORTAL_URL, `http://127.0.0.1:${port}`, 'changes are accepted from the published origin (what a browser sends as Origin)')
    const registries = env.FLEXSEAT_REGISTRY_ADDRESSES?.split(',') ?? []
    t.equal(registries[0], `registry-${site.id}:50051`, `${site.id}: its own registry first`)
    t.same([...registries].sort(), sites.map((s) => `registry-${s.id}:50051`).sort())
    const hash = createHash('sha256').update(env.FLEXSEAT_PORTAL_TOKEN ?? '').digest('hex')
    t.match(readFileSync(join(ROOT, 'deploy', 'tokens.example.yaml'), 'utf8'), new RegExp(`role: portal\\s+sha256: ${hash}`), 'the example file\'s portal token')
    t.same(Object.keys(service.depends_on ?? {}), [`registry-${site.id}`])
  }
  // The image carries the front end: the Dockerfile bundles it after compiling.
  t.match(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'), /npx tsc -b[^\n]*\n(?:[^\n]*\n)?\s*&& npm run build:web -w @flexseat\/portal/, 'the Dockerfile builds the portal\'s front end')
})

t.test('every image is pinned by tag, compose and Dockerfile alike', async (t) => {
  for (const [name, service] of Object.entries(services)) {
    t.ok(service.image, `${name} names its image`)
    t.ok(isPinned(service.image ?? ''), `${name}: ${service.image} is pinned`)
  }
  t.equal(services['etcd-amsterdam']!.image, 'quay.io/coreos/etcd:v3.5.17')
  const sites = await loadSites(join(ROOT, 'sites'))
  const drachtioImages = new Set(sites.map((site) => services[`drachtio-${site.id}`]!.image))
  t.equal(drachtioImages.size, 1, 'one drachtio-server version for every branch')
  t.match([...drachtioImages][0], /^drachtio\/drachtio-server:\d+\.\d+\.\d+$/)
  const froms = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((line) => /^FROM\s/i.test(line))
    .map((line) => line.split(/\s+/)[1]!)
  t.same(froms, ['node:20-bookworm-slim', 'node:20-bookworm-slim'], 'build and runtime stages')
  for (const image of froms) t.ok(isPinned(image), `${image} is pinned`)
  t.notOk(isPinned('etcd'), 'an image without a tag is not pinned')
  t.notOk(isPinned('quay.io:5000/etcd:latest'), 'latest is not pinned')
  t.notOk(isPinned('registry.local:5000/etcd'), 'a registry port is not a tag')
})

t.test('drachtio-server: the version the tests run on is the version compose pins', async (t) => {
  // The tests run every SIP engine test on this machine's drachtio-server (test/helpers/engines.ts).
  const bin = drachtioServerBin()
  if (bin === undefined) {
    t.plan(0, 'no drachtio-server on this machine: the pinned version cannot be compared with a tested one')
    return
  }
  const version = /v(\d+\.\d+\.\d+)/.exec(execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 5_000 }))?.[1]
  t.ok(version, `${bin} --version names its version`)
  const sites = await loadSites(join(ROOT, 'sites'))
  for (const site of sites) t.equal(services[`drachtio-${site.id}`]!.image, `drachtio/drachtio-server:${version}`, `drachtio-${site.id} runs the tested ${version}`)
})

t.test('every depends_on target exists, has a health check and is awaited healthy', async (t) => {
  let edges = 0
  for (const [name, service] of Object.entries(services)) {
    for (const [target, spec] of Object.entries(service.depends_on ?? {})) {
      edges += 1
      t.ok(services[target], `${name} → ${target} exists`)
      t.ok(services[target]?.healthcheck, `${name} → ${target} has a health check`)
      t.equal(spec.condition, 'service_healthy', `${name} waits for ${target} to be healthy`)
      const profiles = services[target]?.profiles ?? []
      t.ok(profiles.every((profile) => service.profiles?.includes(profile)), `${name} → ${target}: not a dependency on an opt-in service`)
    }
    for (const network of service.networks ?? []) t.ok(network in compose.networks, `${name}: network ${network} is declared`)
  }
  t.ok(edges >= 12, 'registries and SIP nodes declare their dependencies')
})

t.test('observability: collector, Jaeger, Prometheus and Grafana are wired to the services', async (t) => {
  const sites = await loadSites(join(ROOT, 'sites'))
  // Every registry and SIP node exports traces to the collector and serves metrics on 9464.
  const exporters = sites.flatMap((site) => [`registry-${site.id}`, `sip-node-${site.id}`])
  for (const name of exporters) {
    const env = services[name]!.environment ?? {}
    t.equal(withDefaults(env['OTEL_TRACES_EXPORTER'] ?? ''), 'otlp', `${name} exports traces over OTLP`)
    t.equal(env['OTEL_EXPORTER_OTLP_ENDPOINT'], 'http://otel-collector:4317', `${name} exports to the collector`)
    t.equal(env['OTEL_EXPORTER_OTLP_PROTOCOL'], 'grpc', `${name}: OTLP over gRPC, the collector's 4317`)
    t.equal(env['FLEXSEAT_METRICS_LISTEN'], '0.0.0.0:9464', `${name} serves metrics on 9464`)
    t.ok(services[name]!.networks?.includes('backbone'), `${name} is on the backbone, with the collector and Prometheus`)
  }
  for (const name of OBSERVABILITY) t.ok(services[name]!.networks?.includes('backbone'), `${name} is on the backbone`)

  // Config files named by the volumes exist in the repository.
  for (const name of OBSERVABILITY) {
    for (const volume of services[name]!.volumes ?? []) {
      const source = volume.split(':')[0]!
      if (source.startsWith('./')) t.ok(existsSync(join(ROOT, source)), `${name}: ${source} exists`)
    }
  }

  // The collector receives OTLP on 4317 and forwards traces to Jaeger's OTLP port.
  const collector = parse(readFileSync(join(ROOT, 'deploy', 'observability', 'otel-collector.yaml'), 'utf8')) as {
    receivers: { otlp: { protocols: { grpc: { endpoint: string } } } }
    exporters: Record<string, { endpoint: string }>
    service: { pipelines: { traces: { receivers: string[]; exporters: string[] } } }
  }
  t.match(collector.receivers.otlp.protocols.grpc.endpoint, /:4317$/, 'the collector listens for OTLP gRPC on 4317')
  const traceExporters = collector.service.pipelines.traces.exporters
  t.ok(traceExporters.length > 0 && traceExporters.every((name) => collector.exporters[name]?.endpoint === 'jaeger:4317'), 'its traces go to Jaeger')
  t.equal(services['jaeger']!.environment?.['COLLECTOR_OTLP_ENABLED'], 'true', 'Jaeger takes OTLP')
  t.ok(services['otel-collector']!.depends_on?.['jaeger'], 'the collector waits for Jaeger')
  t.ok(services['grafana']!.depends_on?.['prometheus'], 'Grafana waits for Prometheus')

  // Prometheus scrapes every service's metrics port.
  const prometheus = parse(readFileSync(join(ROOT, 'deploy', 'observability', 'prometheus.yml'), 'utf8')) as { scrape_configs: { static_configs: { targets: string[] }[] }[] }
  const targets = new Set(prometheus.scrape_configs.flatMap((job) => job.static_configs.flatMap((config) => config.targets)))
  t.same([...targets].sort(), exporters.map((name) => `${name}:9464`).sort(), 'Prometheus scrapes every registry and SIP node at :9464')

  // Published UIs on loopback only.
  t.same(published(services['jaeger']!).map((p) => p.containerPort), [16686], 'Jaeger UI')
  t.same(published(services['prometheus']!).map((p) => p.containerPort), [9090], 'Prometheus UI')
  t.same(published(services['grafana']!).map((p) => p.containerPort), [3000], 'Grafana')
  const hostPorts = Object.values(services).flatMap((service) => published(service).map((p) => `${p.hostPort}/${p.protocol}`))
  t.equal(new Set(hostPorts).size, hostPorts.length, 'no host port is published twice')

  // Grafana: the Prometheus and Jaeger data sources, and the dashboard's queries use them.
  const datasources = parse(readFileSync(join(ROOT, 'deploy', 'observability', 'grafana', 'provisioning', 'datasources', 'datasources.yaml'), 'utf8')) as { datasources: { uid: string; url: string }[] }
  t.same(datasources.datasources.map((d) => d.url).sort(), ['http://jaeger:16686', 'http://prometheus:9090'])
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy', 'observability', 'grafana', 'dashboards', 'flexseat.json'), 'utf8')) as { panels: { title: string; targets: { expr: string; datasource: { uid: string } }[] }[] }
  const exprs = dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr))
  for (const metric of ['flexseat_sign_ins_total', 'flexseat_revocation_duration_bucket', 'flexseat_confirmation_lease_active']) {
    t.ok(exprs.some((expr) => expr.includes(metric)), `the dashboard shows ${metric}`)
  }
  const uids = new Set(datasources.datasources.map((d) => d.uid))
  t.ok(dashboard.panels.every((panel) => panel.targets.every((target) => uids.has(target.datasource.uid))), 'every panel queries a provisioned data source')
})

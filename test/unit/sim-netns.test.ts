import t from 'tap'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadSites } from '@flexseat/config'
import { hostLinkName, namespaceName, netemArgs, planWan, relayRoutes, replaceHost, rewriteSiteAddresses, wanOptionsOf, writeNetnsSites } from '@flexseat/sim'

// The pure parts of the multi-host mode: names, address plan, netem arguments, the sites rewrite
// and the flags. (test/integration/sim-netns.test.ts runs the mode itself, as root.)

const SITES = join(__dirname, '..', '..', 'sites')

t.test('the plan: bridge fxs0 at .1, a namespace and a veth per site at .10 + i', async (t) => {
  const plan = planWan(['amsterdam', 'berlin', 'chicago'])
  t.equal(plan.bridge, 'fxs0')
  t.equal(plan.hostAddress, '10.77.0.1')
  t.equal(plan.prefixLength, 24)
  t.same(
    plan.sites.map((s) => [s.siteId, s.namespace, s.hostLink, s.siteLink, s.address]),
    [
      ['amsterdam', 'fxs-amsterdam', 'fxs-amsterdam', 'wan0', '10.77.0.10'],
      ['berlin', 'fxs-berlin', 'fxs-berlin', 'wan0', '10.77.0.11'],
      ['chicago', 'fxs-chicago', 'fxs-chicago', 'wan0', '10.77.0.12'],
    ],
  )
  t.same(plan.conditions, { delayMs: 0, jitterMs: 0, lossPercent: 0 })
  const other = planWan(['a', 'b'], { prefix: 'fxt', subnet: '192.168.50.0/24', delayMs: 20 })
  t.same(other.sites.map((s) => s.address), ['192.168.50.10', '192.168.50.11'])
  t.equal(other.bridge, 'fxt0')
  t.equal(other.hostAddress, '192.168.50.1')
  t.equal(other.sites[0]!.namespace, 'fxt-a')
})

t.test('interface names fit in 15 characters, stay fixed, and differ for ids that share a start', async (t) => {
  t.equal(hostLinkName('berlin'), 'fxs-berlin')
  t.equal(hostLinkName('amsterdam-z'), 'fxs-amsterdam-z', 'exactly 15 characters: kept as it is')
  const long = hostLinkName('amsterdam-zuidas')
  t.ok(long.length <= 15, `${long} fits`)
  t.match(long, /^fxs-amsterd[0-9a-f]{4}$/, 'the start of the id and 4 hex digits of its hash')
  t.equal(hostLinkName('amsterdam-zuidas'), long, 'the same id gives the same name (cut/heal need no saved state)')
  t.not(hostLinkName('amsterdam-zuidoost'), long, 'another id with the same start gets another name')
  const longest = 'a'.repeat(64)
  t.ok(hostLinkName(longest, 'fxyz').length <= 15)
  t.equal(namespaceName('amsterdam-zuidas'), 'fxs-amsterdam-zuidas', 'namespace names are not limited to 15')
  const plan = planWan(['amsterdam-noord', 'amsterdam-zuidas', 'amsterdam-zuidoost'])
  t.equal(new Set(plan.sites.map((s) => s.hostLink)).size, 3)
})

t.test('bad prefixes, subnets, conditions and too many sites are refused with BAD_OPTION', async (t) => {
  const refused = (f: () => unknown, pattern: RegExp): void => {
    t.throws(f, { name: 'SimError', code: 'BAD_OPTION', message: pattern })
  }
  refused(() => planWan(['a'], { prefix: 'flexseat' }), /prefix "flexseat"/)
  refused(() => planWan(['a'], { prefix: '0x' }), /prefix/)
  refused(() => planWan(['a'], { subnet: '10.77.0.0/16' }), /not an IPv4 \/24/)
  refused(() => planWan(['a'], { subnet: '10.77.0.5/24' }), /not an IPv4 \/24/)
  refused(() => planWan(['a'], { subnet: '10.300.0.0/24' }), /not an IPv4 \/24/)
  refused(() => planWan(['a'], { delayMs: -1 }), /WAN delay -1/)
  refused(() => planWan(['a'], { lossPercent: 101 }), /WAN loss 101/)
  refused(() => planWan(['a'], { jitterMs: Number.NaN }), /WAN jitter/)
  refused(() => planWan(Array.from({ length: 246 }, (_, i) => `s${i}`)), /246 sites/)
  t.equal(planWan(Array.from({ length: 245 }, (_, i) => `s${i}`)).sites[244]!.address, '10.77.0.254')
})

t.test('netem: each end of a cable carries half the site-to-site delay and jitter, and loss that compounds to the asked loss', async (t) => {
  t.equal(netemArgs({}), undefined, 'nothing to add: no qdisc')
  t.same(netemArgs({ delayMs: 40 }), ['netem', 'delay', '20000us'], '40 ms between two sites = 20 ms on each of the two cables crossed')
  t.same(netemArgs({ delayMs: 25, jitterMs: 5 }), ['netem', 'delay', '12500us', '2500us'])
  const lossy = netemArgs({ delayMs: 0, lossPercent: 19 })!
  t.same(lossy.slice(0, 4), ['netem', 'delay', '0us', 'loss'])
  const perEnd = Number.parseFloat(lossy[4]!) / 100
  t.ok(Math.abs(1 - (1 - perEnd) ** 2 - 0.19) < 1e-4, `two ends losing ${lossy[4]} each lose 19% together`)
  t.same(netemArgs({ lossPercent: 100 })?.slice(3), ['loss', '100.0000%'])
})

t.test('replaceHost moves the host of URLs, SIP URIs and host:port, keeping the rest', async (t) => {
  t.equal(replaceHost('http://127.0.0.1:2379', '10.77.0.11'), 'http://10.77.0.11:2379')
  t.equal(replaceHost('https://localhost:2379/', '10.77.0.11'), 'https://10.77.0.11:2379/')
  t.equal(replaceHost('sip:127.0.0.1:5062;transport=udp,tcp', '10.77.0.11'), 'sip:10.77.0.11:5062;transport=udp,tcp')
  t.equal(replaceHost('sip:trunk@127.0.0.1:5062', '10.77.0.11'), 'sip:trunk@10.77.0.11:5062')
  t.equal(replaceHost('sips:[::1]:5061', '10.77.0.11'), 'sips:10.77.0.11:5061')
  t.equal(replaceHost('sip:pbx.example.com', '10.77.0.11'), 'sip:10.77.0.11')
  t.equal(replaceHost('127.0.0.1:50052', '10.77.0.11'), '10.77.0.11:50052')
  t.equal(replaceHost('[::1]:50052', '10.77.0.11'), '10.77.0.11:50052')
  t.equal(replaceHost('no port here', '10.77.0.11'), undefined)
})

t.test('the sites copy: every address at the namespace address, ports, comments and the rest kept', async (t) => {
  const original = await readFile(join(SITES, 'berlin.yaml'), 'utf8')
  const text = rewriteSiteAddresses(original, '10.77.0.11', 'berlin.yaml')
  t.notMatch(text, /127\.0\.0\.1/, 'no loopback address left')
  t.match(text, /# This site's member of the etcd cluster\./, 'comments kept')

  const out = await mkdtemp(join(tmpdir(), 'flexseat-netns-sites-'))
  t.teardown(() => rm(out, { recursive: true, force: true }))
  const before = await loadSites(SITES)
  await writeNetnsSites(SITES, out, planWan(before.map((s) => s.id)))
  const after = await loadSites(out)
  t.same(after.map((s) => s.id), before.map((s) => s.id))
  for (const [i, site] of after.entries()) {
    const was = before[i]!
    const address = `10.77.0.${10 + i}`
    const port = (value: string): string | undefined => /:(\d+)(?:[;/]|$)/.exec(value)?.[1]
    t.same(site.etcd, { name: was.etcd.name, clientUrl: `http://${address}:${port(was.etcd.clientUrl)}`, peerUrl: `http://${address}:${port(was.etcd.peerUrl)}` }, `${site.id}: etcd`)
    t.equal(site.registry.listen, `${address}:${port(was.registry.listen)}`, `${site.id}: registry`)
    t.equal(site.sip.contact, was.sip.contact.replace('127.0.0.1', address), `${site.id}: sip.contact`)
    t.equal(site.sip.control, `${address}:${port(was.sip.control)}`, `${site.id}: sip.control`)
    t.equal(site.sip.trunkUri, was.sip.trunkUri.replace('127.0.0.1', address), `${site.id}: sip.trunk_uri`)
    t.equal(site.provisioning?.listen, `${address}:${port(was.provisioning!.listen)}`, `${site.id}: provisioning`)
    t.equal(site.portal?.listen, `${address}:${port(was.portal!.listen)}`, `${site.id}: portal`)
    t.same({ ...site, etcd: was.etcd, registry: was.registry, sip: was.sip, provisioning: was.provisioning, portal: was.portal }, was, `${site.id}: nothing else changed`)
  }
  t.match(await readFile(join(out, 'berlin.yaml'), 'utf8'), /^# Generated by flexseat-sim --netns from .*berlin\.yaml: the site at 10\.77\.0\.11 \(namespace fxs-berlin\)/)

  const unusable = rewriteSiteAddresses.bind(undefined, 'registry:\n  listen: nowhere\n', '10.77.0.11', 'x.yaml')
  t.throws(unusable, { name: 'SimError', code: 'BAD_SITE', message: /x\.yaml: registry\.listen "nowhere"/ })
})

t.test('the flags: --wan-* need --netns and numbers', async (t) => {
  t.equal(wanOptionsOf({}), undefined)
  t.same(wanOptionsOf({ netns: true }), { delayMs: undefined, jitterMs: undefined, lossPercent: undefined, subnet: undefined })
  t.same(wanOptionsOf({ netns: true, 'wan-delay': '40', 'wan-jitter': '2.5', 'wan-loss': '1', 'wan-subnet': '10.9.9.0/24' }), {
    delayMs: 40,
    jitterMs: 2.5,
    lossPercent: 1,
    subnet: '10.9.9.0/24',
  })
  t.throws(() => wanOptionsOf({ 'wan-delay': '40' }), /--wan-delay needs --netns/)
  t.throws(() => wanOptionsOf({ netns: true, 'wan-delay': '40ms' }), /--wan-delay "40ms" is not a number/)
})

t.test('the delay path: netem where the kernel has it, otherwise the relay at .2; forced by --wan-path', async (t) => {
  t.equal(planWan(['a', 'b']).delayPath, 'none', 'no condition: nothing to apply')
  t.equal(planWan(['a', 'b'], { delayMs: 30 }).delayPath, 'netem')
  t.equal(planWan(['a', 'b'], { delayMs: 30 }, false).delayPath, 'relay', 'no netem: the relay')
  t.equal(planWan(['a', 'b'], { lossPercent: 1, delay: 'relay' }).delayPath, 'relay', 'forced')
  t.equal(planWan(['a', 'b'], { delayMs: 30, delay: 'netem' }, false).delayPath, 'netem', 'forced netem stays netem (create refuses it without netem)')
  t.same(planWan(['a'], { subnet: '192.168.50.0/24' }).relay, { namespace: 'fxs-.relay', hostLink: 'fxs-.relay', siteLink: 'wan0', address: '192.168.50.2' })
  t.same(wanOptionsOf({ netns: true, 'wan-path': 'relay' })?.delay, 'relay')
  t.throws(() => wanOptionsOf({ netns: true, 'wan-path': 'tc' }), { code: 'BAD_OPTION', message: /--wan-path "tc" is not auto, netem or relay/ })
  t.throws(() => wanOptionsOf({ 'wan-path': 'relay' }), { code: 'BAD_OPTION', message: /--wan-path needs --netns/ })
})

t.test('the relay routes: every inter-site port of every site, at its own address, transparent', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-netns-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const plan = planWan(['amsterdam', 'berlin', 'chicago'], { delayMs: 30 }, false)
  await writeNetnsSites(SITES, dir, plan)
  const sites = await loadSites(dir)
  const routes = relayRoutes(sites, plan)
  const amsterdam = sites.find((site) => site.id === 'amsterdam')!
  const port = (value: string): number => Number(/:(\d+)(?:[;/]|$)/.exec(value)![1])
  t.same(
    routes.filter((route) => route.listen.host === '10.77.0.10').map((route) => `${route.protocol} ${route.listen.port}`).sort(),
    [
      `tcp ${port(amsterdam.etcd.clientUrl)}`,
      `tcp ${port(amsterdam.etcd.peerUrl)}`,
      `tcp ${port(amsterdam.registry.listen)}`,
      `tcp ${port(amsterdam.sip.contact)}`,
      `udp ${port(amsterdam.sip.contact)}`,
    ].sort(),
    'etcd client and peer, registry, SIP (contact = trunk port here, once) over UDP and TCP',
  )
  t.equal(routes.length, 15, 'five per site')
  t.ok(routes.every((route) => route.sourceFromClient && route.listen.host === route.target.host && route.listen.port === route.target.port), 'each listens where it forwards, from the client\'s address')
})

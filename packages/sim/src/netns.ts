import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { SimError } from './errors'
import type { RelayRoute } from './wan-relay'

/**
 * The simulated WAN of the multi-host mode (`npm start -- --netns`): one Linux network namespace
 * per site, each plugged by a veth pair into one bridge in the root namespace, so that every
 * site has an address of its own and the launcher, the CLI and the user's tools (in the root
 * namespace) reach the sites over the bridge. The namespaces have no default route: a site's
 * traffic goes only to its own loopback, the other sites and the host's bridge address.
 *
 * ```
 *  root namespace: bridge fxs0 10.77.0.1/24 ── veth fxs-amsterdam ══ wan0 10.77.0.10 (netns fxs-amsterdam)
 *                                           ├─ veth fxs-berlin    ══ wan0 10.77.0.11 (netns fxs-berlin)
 *                                           └─ veth fxs-chicago   ══ wan0 10.77.0.12 (netns fxs-chicago)
 * ```
 *
 * The WAN conditions (delay, jitter, loss) are applied by tc's netem on the veths where the
 * kernel has it; where it has not (`sch_netem` missing), by the userspace relay of wan-relay.ts
 * in a namespace of its own, `fxs-.relay` at `.2`, through which the sites reach each other:
 *
 * ```
 *  netns fxs-amsterdam 10.77.0.10 ──┐ route 10.77.0.11/32, .12/32 via 10.77.0.2
 *  netns fxs-berlin    10.77.0.11 ──┼── bridge fxs0 (host 10.77.0.1: reaches every site directly)
 *  netns fxs-chicago   10.77.0.12 ──┤
 *  netns fxs-.relay    10.77.0.2  ──┘ takes every 10.77.0.x as its own (AnyIP) on what arrives,
 *       listens at each site's address and inter-site port (etcd client and peer, registry gRPC,
 *       SIP trunk UDP and TCP), delays, and forwards to the site from the client's own address
 * ```
 *
 * Names are fixed (derived from the prefix and the site ids), so a run killed before it could
 * clean up is cleaned up by the next one, or by `flexseat-sim clean`. Everything here needs root.
 */

/** The default name prefix: bridge `fxs0`, namespaces and host-side veths `fxs-<site>`. */
export const WAN_PREFIX = 'fxs'
/** The default subnet of the bridge (host side `.1`, site i at `.10 + i`). */
export const WAN_SUBNET = '10.77.0.0/24'
/** The site's end of its veth pair, inside its namespace. */
export const SITE_LINK = 'wan0'
/** Linux's limit on interface names (IFNAMSIZ - 1). */
const IFNAME_MAX = 15
/** A namespace whose name no site can have (site ids start with a letter or digit). */
const PROBE_SUFFIX = '.probe'

/** What the WAN adds to every packet between two sites. */
export interface WanConditions {
  /** One-way delay between two sites in ms (default 0: none). A round trip costs twice this. */
  delayMs?: number
  /** Variation of that delay in ms (netem's jitter; default 0). Jitter reorders packets. */
  jitterMs?: number
  /** Share of packets lost between two sites, in percent (default 0). */
  lossPercent?: number
}

/**
 * How the WAN conditions are applied: `none` (there are none), `netem` (tc's netem on the
 * veths), `relay` (the userspace relay of wan-relay.ts in the relay namespace).
 */
export type WanDelayPath = 'none' | 'netem' | 'relay'

/** Options of {@link planWan} and {@link SimulatedWan.create}. */
export interface WanOptions extends WanConditions {
  /**
   * `auto` (default): netem where the kernel has it, otherwise the relay; `netem` or `relay`
   * force one (`netem` without netem is refused).
   */
  delay?: 'auto' | 'netem' | 'relay'
  /** Name prefix (default {@link WAN_PREFIX}); at most 4 characters, `[a-z][a-z0-9]*`. */
  prefix?: string
  /** An IPv4 /24, e.g. `10.77.0.0/24` (default {@link WAN_SUBNET}). */
  subnet?: string
}

/** One site's place on the WAN. */
export interface WanSite {
  siteId: string
  /** Its network namespace (`ip netns exec <namespace> ...`). */
  namespace: string
  /** The veth end in the root namespace, a port of the bridge (what `cut` sets down). */
  hostLink: string
  /** The veth end inside the namespace ({@link SITE_LINK}). */
  siteLink: string
  /** The site's address, e.g. 10.77.0.11. */
  address: string
}

/** The names and addresses of a WAN; {@link planWan} computes it without touching the system. */
export interface WanPlan {
  prefix: string
  bridge: string
  /** The root namespace's address on the bridge (`.1`). */
  hostAddress: string
  /** Always 24. */
  prefixLength: number
  sites: WanSite[]
  conditions: Required<WanConditions>
  /** How the conditions are applied (see {@link WanDelayPath}). */
  delayPath: WanDelayPath
  /** The relay's namespace (`<prefix>-.relay`, at `.2`); created only when `delayPath` is `relay`. */
  relay: Omit<WanSite, 'siteId'>
}

/** The relay's namespace suffix: no site id starts with a dot. */
const RELAY_SUFFIX = '.relay'

/** Site ids are at most 64 characters; interface names 15: the plan shortens, names stay fixed. */
export function namespaceName(siteId: string, prefix = WAN_PREFIX): string {
  return `${prefix}-${siteId}`
}

/**
 * The host-side veth of a site: `<prefix>-<site>` when that fits in 15 characters, otherwise
 * `<prefix>-` + the start of the id + 4 hex digits of its SHA-256 (`fxs-amsterd1a2b`). A function
 * of the site id alone, so that `cut`/`heal` find it without any saved state.
 */
export function hostLinkName(siteId: string, prefix = WAN_PREFIX): string {
  const full = `${prefix}-${siteId}`
  if (full.length <= IFNAME_MAX) return full
  const hash = createHash('sha256').update(siteId).digest('hex').slice(0, 4)
  return `${prefix}-${siteId.slice(0, IFNAME_MAX - prefix.length - 1 - hash.length)}${hash}`
}

/**
 * The WAN for `siteIds` (in the order given; the launcher passes them sorted by id, as
 * loadSites returns them): bridge `<prefix>0` at `.1`, site i at `.10 + i`.
 * @throws SimError `BAD_OPTION` on a bad prefix, subnet, condition, or too many sites.
 */
export function planWan(siteIds: readonly string[], options: WanOptions = {}, netem = true): WanPlan {
  const prefix = options.prefix ?? WAN_PREFIX
  if (!/^[a-z][a-z0-9]{0,3}$/.test(prefix)) throw bad(`name prefix "${prefix}" must be 1-4 lower case letters or digits, starting with a letter`)
  const subnet = options.subnet ?? WAN_SUBNET
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(subnet)
  const octets = match?.slice(1, 4).map(Number)
  if (!octets || octets.some((octet) => octet > 255)) throw bad(`subnet "${subnet}" is not an IPv4 /24 such as ${WAN_SUBNET}`)
  const network = octets.join('.')
  if (siteIds.length > 245) throw bad(`${siteIds.length} sites do not fit in a /24 (at most 245: .10 to .254)`)
  const conditions = {
    delayMs: nonNegative('WAN delay', options.delayMs ?? 0, 60_000),
    jitterMs: nonNegative('WAN jitter', options.jitterMs ?? 0, 60_000),
    lossPercent: nonNegative('WAN loss', options.lossPercent ?? 0, 100),
  }
  const sites = siteIds.map((siteId, i) => ({
    siteId,
    namespace: namespaceName(siteId, prefix),
    hostLink: hostLinkName(siteId, prefix),
    siteLink: SITE_LINK,
    address: `${network}.${10 + i}`,
  }))
  const links = new Set(sites.map((site) => site.hostLink))
  if (links.size !== sites.length) throw bad(`two site ids shorten to the same interface name: ${sites.map((s) => s.hostLink).join(', ')}`)
  const shaped = conditions.delayMs > 0 || conditions.jitterMs > 0 || conditions.lossPercent > 0
  const delay = options.delay ?? 'auto'
  if (!['auto', 'netem', 'relay'].includes(delay)) throw bad(`WAN delay path "${String(delay)}" is not auto, netem or relay`)
  const delayPath: WanDelayPath = !shaped ? 'none' : delay === 'relay' || (delay === 'auto' && !netem) ? 'relay' : 'netem'
  const relay = { namespace: `${prefix}-${RELAY_SUFFIX}`, hostLink: `${prefix}-${RELAY_SUFFIX}`, siteLink: SITE_LINK, address: `${network}.2` }
  return { prefix, bridge: `${prefix}0`, hostAddress: `${network}.1`, prefixLength: 24, sites, conditions, delayPath, relay }
}

/**
 * The netem arguments for ONE end of a site's veth pair, or undefined when the WAN adds
 * nothing. Each site's cable carries half of the site-to-site conditions in each direction
 * (netem on the namespace's end delays what the site sends, on the bridge's end what it
 * receives), so a packet from site A to site B crosses two halves: one-way `delayMs`, a round
 * trip `2 × delayMs`, `lossPercent` lost on the way. Between the root namespace (launcher,
 * CLI) and a site a packet crosses one half: `delayMs / 2` one way, `delayMs` a round trip.
 */
export function netemArgs(conditions: WanConditions): string[] | undefined {
  const delayMs = conditions.delayMs ?? 0
  const jitterMs = conditions.jitterMs ?? 0
  const lossPercent = conditions.lossPercent ?? 0
  if (delayMs === 0 && jitterMs === 0 && lossPercent === 0) return undefined
  // Whole microseconds: tc parses them exactly, whatever the fraction of a millisecond.
  const args = ['netem', 'delay', `${Math.round(delayMs * 500)}us`]
  if (jitterMs > 0) args.push(`${Math.round(jitterMs * 500)}us`)
  // Two independent ends each losing q lose 1 - (1 - q)² together: q = 1 - sqrt(1 - p).
  if (lossPercent > 0) args.push('loss', `${(100 * (1 - Math.sqrt(1 - lossPercent / 100))).toFixed(4)}%`)
  return args
}

/** Whether the multi-host mode can run here, and if not, why. */
export interface NetnsSupport {
  /** Root, iproute2, and `ip netns` works. */
  available: boolean
  /** Why not, when not: one sentence saying what is missing. */
  reason?: string
  /** The kernel has tc's netem qdisc (needed for a WAN delay, jitter or loss). */
  netem: boolean
  /** Why there is no netem, when there is none. */
  netemReason?: string
}

/**
 * Checks the requirements without leaving anything behind: root, `ip` (iproute2), and that a
 * namespace can be created and configured; then whether `tc` can add a netem qdisc (on the
 * loopback of that scratch namespace). Never throws.
 */
export async function probeNetns(prefix = WAN_PREFIX): Promise<NetnsSupport> {
  if (process.platform !== 'linux') return { available: false, reason: 'network namespaces exist only on Linux', netem: false }
  if (process.getuid?.() !== 0) {
    return { available: false, reason: 'the multi-host mode needs root (it creates network namespaces, veth pairs and a bridge): run it as root or with sudo', netem: false }
  }
  try {
    await run('ip', ['-V'])
  } catch (error) {
    return { available: false, reason: `the multi-host mode needs iproute2's ip command (apt install iproute2): ${(error as Error).message}`, netem: false }
  }
  const scratch = `${prefix}-${PROBE_SUFFIX}`
  await run('ip', ['netns', 'delete', scratch]).catch(() => undefined)
  try {
    await run('ip', ['netns', 'add', scratch])
    await run('ip', ['-n', scratch, 'link', 'set', 'lo', 'up'])
  } catch (error) {
    await run('ip', ['netns', 'delete', scratch]).catch(() => undefined)
    return { available: false, reason: `ip netns does not work here (a container without CAP_SYS_ADMIN?): ${(error as Error).message}`, netem: false }
  }
  try {
    await run('tc', ['-n', scratch, 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'])
    return { available: true, netem: true }
  } catch (error) {
    const reason = ((error as SimError).cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
      ? 'tc (iproute2) is not installed'
      : `this kernel has no netem qdisc (load the module: modprobe sch_netem; or a kernel built with CONFIG_NET_SCH_NETEM): ${(error as Error).message}`
    return { available: true, netem: false, netemReason: reason }
  } finally {
    await run('ip', ['netns', 'delete', scratch]).catch(() => undefined)
  }
}

/**
 * - `created`: every namespace, veth and the bridge exist; {@link SimulatedWan.cut}/`heal` work.
 * - `removed`: {@link SimulatedWan.teardown} ran; nothing of the WAN is left.
 */
export type WanState = 'created' | 'removed'

/** A created WAN. Create it with {@link SimulatedWan.create}; remove it with {@link SimulatedWan.teardown}. */
export class SimulatedWan {
  readonly plan: WanPlan
  #state: WanState = 'created'
  #removing: Promise<void> | undefined
  #relay: ChildProcess | undefined

  private constructor(plan: WanPlan) {
    this.plan = plan
  }

  /**
   * Creates the WAN for `siteIds` (see {@link planWan}). First removes what a previous run left
   * under the same prefix, unless one of those namespaces still holds processes (another
   * simulation runs: `NETNS_IN_USE`). On failure, removes what it created and rethrows.
   * @throws SimError `BAD_OPTION`, `NETNS_UNAVAILABLE` (requirements, or a WAN condition without netem), `NETNS_IN_USE`, `NETNS_FAILED`.
   */
  static async create(siteIds: readonly string[], options: WanOptions = {}): Promise<SimulatedWan> {
    planWan(siteIds, options)
    const support = await probeNetns(options.prefix ?? WAN_PREFIX)
    if (!support.available) throw new SimError('NETNS_UNAVAILABLE', support.reason ?? 'network namespaces are not available')
    const plan = planWan(siteIds, options, support.netem)
    const netem = plan.delayPath === 'netem' ? netemArgs(plan.conditions) : undefined
    if (netem && !support.netem) throw new SimError('NETNS_UNAVAILABLE', `--wan-path netem needs tc's netem: ${support.netemReason ?? 'unavailable'}`)
    await removeWan(plan.prefix)
    await refuseTakenSubnet(plan)
    const wan = new SimulatedWan(plan)
    try {
      await run('ip', ['link', 'add', plan.bridge, 'type', 'bridge'])
      await run('ip', ['addr', 'add', `${plan.hostAddress}/${plan.prefixLength}`, 'dev', plan.bridge])
      await run('ip', ['link', 'set', plan.bridge, 'up'])
      for (const site of plan.sites) {
        const ns = site.namespace
        await run('ip', ['netns', 'add', ns])
        await run('ip', ['link', 'add', site.hostLink, 'type', 'veth', 'peer', 'name', site.siteLink, 'netns', ns])
        await run('ip', ['link', 'set', site.hostLink, 'master', plan.bridge])
        await run('ip', ['link', 'set', site.hostLink, 'up'])
        await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
        await run('ip', ['-n', ns, 'addr', 'add', `${site.address}/${plan.prefixLength}`, 'dev', site.siteLink])
        await run('ip', ['-n', ns, 'link', 'set', site.siteLink, 'up'])
        if (netem) {
          await run('tc', ['-n', ns, 'qdisc', 'replace', 'dev', site.siteLink, 'root', ...netem])
          await run('tc', ['qdisc', 'replace', 'dev', site.hostLink, 'root', ...netem])
        }
      }
      if (plan.delayPath === 'relay') await createRelayNamespace(plan)
      return wan
    } catch (error) {
      await wan.teardown().catch(() => undefined)
      throw error
    }
  }

  get state(): WanState {
    return this.#state
  }

  /** The site's place on the WAN. @throws SimError `NETNS_UNKNOWN_SITE` */
  site(siteId: string): WanSite {
    const site = this.plan.sites.find((s) => s.siteId === siteId)
    if (!site) throw new SimError('NETNS_UNKNOWN_SITE', `no site ${siteId} on this WAN (sites: ${this.plan.sites.map((s) => s.siteId).join(', ')})`)
    return site
  }

  /** What to put in front of a command to run it inside the site's namespace. */
  commandPrefix(siteId: string): string[] {
    return ['ip', 'netns', 'exec', this.site(siteId).namespace]
  }

  /** Cuts the site off from the others and from the root namespace; see {@link cutSite}. */
  async cut(siteId: string): Promise<void> {
    await cutSite(this.site(siteId).siteId, this.plan.prefix)
  }

  /** Plugs a cut site back in; see {@link healSite}. */
  async heal(siteId: string): Promise<void> {
    await healSite(this.site(siteId).siteId, this.plan.prefix)
  }

  /**
   * Starts the userspace relay (wan-relay-main.js) in the relay namespace with `routes` and the
   * plan's conditions in both directions; resolves once every route listens. Only when the plan's
   * `delayPath` is `relay`; {@link teardown} stops it. The relay also ends when this process does
   * (its stdin closes).
   * @throws SimError `RELAY_FAILED` when it cannot start or a route cannot listen.
   */
  async startRelay(routes: readonly RelayRoute[], seed = 1): Promise<void> {
    if (this.plan.delayPath !== 'relay') throw new SimError('RELAY_FAILED', `this WAN applies its conditions by ${this.plan.delayPath}, not by the relay`)
    if (this.#relay) throw new SimError('RELAY_FAILED', 'the relay already runs')
    const { delayMs, jitterMs, lossPercent } = this.plan.conditions
    const conditions = { delayMs, jitterMs, lossPercent }
    const options = JSON.stringify({ routes, up: conditions, down: conditions, seed })
    const child = spawn('ip', ['netns', 'exec', this.plan.relay.namespace, process.execPath, join(__dirname, 'wan-relay-main.js'), options], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.#relay = child
    let output = ''
    await new Promise<void>((resolve, reject) => {
      const failed = (why: string): void => reject(new SimError('RELAY_FAILED', `the WAN relay did not start: ${why}`))
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes('relay ready')) resolve()
      })
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
      child.once('error', (error) => failed(error.message))
      child.once('exit', (code) => failed(`exit ${String(code)}: ${output.trim()}`))
    })
  }

  /**
   * Removes every namespace, veth and the bridge of this prefix (also those a crashed run
   * left), after stopping the relay. Idempotent. Processes still running in a namespace keep
   * it alive, unnamed, until they end: stop them first (the launcher's stop does).
   */
  teardown(): Promise<void> {
    this.#removing ??= stopChild(this.#relay).then(() => removeWan(this.plan.prefix)).then(() => {
      this.#state = 'removed'
    })
    return this.#removing
  }
}

/**
 * The relay namespace of a `relay` plan, and the sites' routes through it. The relay takes every
 * address of the subnet as its own for what arrives on its link (AnyIP: `local <subnet> dev lo`
 * in the local table), so it accepts the connections and datagrams the sites route to it, while
 * what it sends itself goes out on its link (a rule for locally generated traffic, `iif lo`,
 * ahead of the local table), from the client's address (`ip_nonlocal_bind`). It answers no ARP
 * for those addresses (`arp_ignore=1`) and announces only its own (`arp_announce=2`), so the
 * host keeps reaching each site directly. Each site routes every other site's /32 via the relay.
 */
async function createRelayNamespace(plan: WanPlan): Promise<void> {
  const { namespace: ns, hostLink, siteLink, address } = plan.relay
  const subnet = `${address.split('.').slice(0, 3).join('.')}.0/${plan.prefixLength}`
  await run('ip', ['netns', 'add', ns])
  await run('ip', ['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', siteLink, 'netns', ns])
  await run('ip', ['link', 'set', hostLink, 'master', plan.bridge])
  await run('ip', ['link', 'set', hostLink, 'up'])
  await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
  await run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w',
    'net.ipv4.ip_nonlocal_bind=1', 'net.ipv4.ip_forward=0',
    'net.ipv4.conf.all.arp_ignore=1', `net.ipv4.conf.${siteLink}.arp_ignore=1`,
    'net.ipv4.conf.all.arp_announce=2', `net.ipv4.conf.${siteLink}.arp_announce=2`,
    'net.ipv4.conf.all.rp_filter=0', `net.ipv4.conf.${siteLink}.rp_filter=0`])
  await run('ip', ['-n', ns, 'addr', 'add', `${address}/${plan.prefixLength}`, 'dev', siteLink])
  await run('ip', ['-n', ns, 'link', 'set', siteLink, 'up'])
  await run('ip', ['-n', ns, 'route', 'add', 'local', subnet, 'dev', 'lo', 'table', 'local'])
  await run('ip', ['-n', ns, 'route', 'add', subnet, 'dev', siteLink, 'src', address, 'table', '200'])
  await run('ip', ['-n', ns, 'rule', 'add', 'pref', '50', 'iif', 'lo', 'lookup', '200'])
  await run('ip', ['-n', ns, 'rule', 'add', 'pref', '100', 'lookup', 'local'])
  await run('ip', ['-n', ns, 'rule', 'del', 'pref', '0'])
  for (const site of plan.sites) {
    for (const other of plan.sites) {
      if (other !== site) await run('ip', ['-n', site.namespace, 'route', 'add', `${other.address}/32`, 'via', address])
    }
  }
}

/** Ends a child (SIGTERM, then SIGKILL after 3 s) and waits for its exit. */
async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000)
  await exited
  clearTimeout(timer)
}

/**
 * Cuts a site off: sets its host-side veth (the bridge port) down. The site's end loses its
 * carrier, so nothing passes in either direction between the site and the other sites or the
 * root namespace; inside the namespace, the site's processes still reach each other (the
 * site's own address is local). Packets are dropped, not refused: peers see timeouts, as on a
 * real WAN outage. Idempotent. Acts on the fixed names, so a second process (the
 * `flexseat-sim cut` command) can do it. Needs root.
 * @throws SimError `NETNS_UNKNOWN_SITE` when the site has no namespace, `NETNS_FAILED`.
 */
export async function cutSite(siteId: string, prefix = WAN_PREFIX): Promise<void> {
  await setHostLink(siteId, prefix, 'down')
}

/** Plugs a cut site back in (its host-side veth up again; the WAN conditions stay). Idempotent. */
export async function healSite(siteId: string, prefix = WAN_PREFIX): Promise<void> {
  await setHostLink(siteId, prefix, 'up')
}

/** Whether the site is cut off (its host-side veth is down). */
export async function isCut(siteId: string, prefix = WAN_PREFIX): Promise<boolean> {
  await requireNamespace(siteId, prefix)
  const [link] = JSON.parse(await run('ip', ['-j', 'link', 'show', 'dev', hostLinkName(siteId, prefix)])) as { flags?: string[] }[]
  return !(link?.flags ?? []).includes('UP')
}

/**
 * Deletes every namespace named `<prefix>-*`, every link named `<prefix>-*` and the bridge
 * `<prefix>0`. Idempotent.
 * @throws SimError `NETNS_IN_USE` when one of the namespaces still holds processes.
 */
export async function removeWan(prefix = WAN_PREFIX): Promise<void> {
  const namespaces = await wanNamespaces(prefix)
  for (const ns of namespaces) {
    const pids = (await run('ip', ['netns', 'pids', ns])).split('\n').filter((line) => line.trim() !== '')
    if (pids.length > 0) {
      throw new SimError('NETNS_IN_USE', `namespace ${ns} still holds processes (pids ${pids.join(', ')}): another multi-host simulation runs; stop it first`)
    }
  }
  // Deleting one end of a veth deletes both; deleting the links first (rather than leaving that
  // to the namespaces' deletion, which the kernel finishes later) means they are gone on return.
  // A deletion may fail because a concurrent cleanup got there first: what counts is what is
  // left afterwards.
  let firstError: unknown
  const note = (error: unknown): void => {
    firstError ??= error
  }
  for (const link of await wanLinks(prefix)) await run('ip', ['link', 'delete', link]).catch(note)
  for (const ns of namespaces) await run('ip', ['netns', 'delete', ns]).catch(note)
  const left = [...(await wanLinks(prefix)), ...(await wanNamespaces(prefix))]
  if (left.length > 0) {
    throw new SimError('NETNS_FAILED', `could not remove ${left.join(', ')}${firstError instanceof Error ? `: ${firstError.message}` : ''}`, { cause: firstError })
  }
}

/** The links of this prefix in the root namespace: the bridge and the host-side veths. */
export async function wanLinks(prefix = WAN_PREFIX): Promise<string[]> {
  const links = JSON.parse((await run('ip', ['-j', 'link', 'show'])) || '[]') as { ifname: string }[]
  return links.map((link) => link.ifname).filter((name) => name.startsWith(`${prefix}-`) || name === `${prefix}0`)
}

/** The namespaces of this prefix that exist now. */
export async function wanNamespaces(prefix = WAN_PREFIX): Promise<string[]> {
  const list = JSON.parse((await run('ip', ['-j', 'netns', 'list'])) || '[]') as { name: string }[]
  return list.map((entry) => entry.name).filter((name) => name.startsWith(`${prefix}-`))
}

/**
 * Refuses a subnet that overlaps an address of this host: our more specific route would hide
 * those machines from the host. (Run after the leftovers of our own prefix are removed.)
 */
async function refuseTakenSubnet(plan: WanPlan): Promise<void> {
  const ours = ipv4(plan.hostAddress) & mask(plan.prefixLength)
  const interfaces = JSON.parse((await run('ip', ['-j', '-4', 'addr', 'show'])) || '[]') as { ifname: string; addr_info?: { local?: string; prefixlen?: number }[] }[]
  for (const { ifname, addr_info: addresses = [] } of interfaces) {
    for (const { local, prefixlen } of addresses) {
      if (local === undefined || prefixlen === undefined) continue
      const shorter = mask(Math.min(prefixlen, plan.prefixLength))
      if ((ipv4(local) & shorter) === (ours & shorter)) {
        throw new SimError('NETNS_UNAVAILABLE', `${ifname} has ${local}/${prefixlen}, which overlaps ${plan.hostAddress}/${plan.prefixLength}: choose another subnet (--wan-subnet)`)
      }
    }
  }
}

function ipv4(address: string): number {
  return address.split('.').reduce((value, octet) => ((value << 8) | Number(octet)) >>> 0, 0)
}

function mask(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0
}

async function setHostLink(siteId: string, prefix: string, state: 'up' | 'down'): Promise<void> {
  await requireNamespace(siteId, prefix)
  await run('ip', ['link', 'set', 'dev', hostLinkName(siteId, prefix), state])
}

async function requireNamespace(siteId: string, prefix: string): Promise<void> {
  const ns = namespaceName(siteId, prefix)
  if (!(await wanNamespaces(prefix)).includes(ns)) {
    throw new SimError('NETNS_UNKNOWN_SITE', `there is no namespace ${ns}: is a simulation with a site "${siteId}" running with --netns?`)
  }
}

/**
 * Runs `command args` (no shell); resolves with stdout.
 * @throws SimError `NETNS_FAILED` naming the command line and its stderr; its cause is execFile's
 * error (`code` ENOENT when the command is not installed).
 */
function run(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { encoding: 'utf8', timeout: 10_000 }, (error, stdout, stderr) => {
      if (!error) {
        resolve(stdout)
        return
      }
      const detail = stderr.trim() || error.message
      reject(new SimError('NETNS_FAILED', `${[command, ...args].join(' ')}: ${detail}`, { cause: error }))
    })
  })
}

function nonNegative(what: string, value: number, max: number): number {
  if (!Number.isFinite(value) || value < 0 || value > max) throw bad(`${what} ${value} is not a number from 0 to ${max}`)
  return value
}

function bad(message: string): SimError {
  return new SimError('BAD_OPTION', message)
}

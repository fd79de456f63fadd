import { join } from 'node:path'
import { loadSites, type SiteConfig } from '@flexseat/config'
import { SimError } from './errors'
import { cutSite, healSite, isCut, removeWan, SimulatedWan, type WanOptions, type WanPlan, WAN_SUBNET } from './netns'
import { writeNetnsSites } from './netns-sites'
import type { RelayRoute } from './wan-relay'

/**
 * The multi-host mode as `flexseat-sim` offers it: its flags (`--netns`, `--wan-*`), its
 * subcommands (`cut`, `heal`, `clean`), and the set-up main.ts does before the launcher starts.
 */

/** The `parseArgs` options of the multi-host mode. */
export const NETNS_FLAGS = {
  netns: { type: 'boolean' },
  'wan-delay': { type: 'string' },
  'wan-jitter': { type: 'string' },
  'wan-loss': { type: 'string' },
  'wan-subnet': { type: 'string' },
  'wan-path': { type: 'string' },
} as const

/** The values of {@link NETNS_FLAGS} as parseArgs returns them. */
export interface NetnsFlagValues {
  netns?: boolean
  'wan-delay'?: string
  'wan-jitter'?: string
  'wan-loss'?: string
  'wan-subnet'?: string
  'wan-path'?: string
}

export const NETNS_USAGE = `
multi-host mode (needs root and iproute2; a WAN delay, jitter or loss uses tc's netem, kernel module
sch_netem, where it exists, otherwise a userspace relay in namespace fxs-.relay):
  --netns                each site in a network namespace of its own (fxs-<site>) on a bridge (fxs0):
                         sites at 10.77.0.10, .11, ..., this host at .1; state in <state-dir>/netns/
  --wan-delay <ms>       one-way delay between two sites (a round trip costs twice that);
                         from this host to a site, half of it each way
  --wan-jitter <ms>      variation of that delay (packets may arrive out of order)
  --wan-loss <percent>   packets lost between two sites
  --wan-subnet <a.b.c.0/24>  the bridge's subnet (default ${WAN_SUBNET})
  --wan-path auto|netem|relay  how the delay is applied (default auto: netem if the kernel has it)
commands (as root, while a --netns simulation runs):
  flexseat-sim cut <site>    cut the site off from the other sites and from this host
  flexseat-sim heal <site>   plug it back in
  flexseat-sim clean         remove the namespaces, veths and bridge a killed --netns run left behind
`

/** The subcommands; anything else in the first position is a usage error. */
export const NETNS_COMMANDS = ['cut', 'heal', 'clean'] as const

/**
 * The WAN options the flags ask for, undefined without `--netns`.
 * @throws SimError `BAD_OPTION` on a malformed number or a `--wan-*` flag without `--netns`.
 */
export function wanOptionsOf(values: NetnsFlagValues): WanOptions | undefined {
  const number = (flag: keyof NetnsFlagValues): number | undefined => {
    const text = values[flag]
    if (text === undefined) return undefined
    if (typeof text !== 'string' || !/^\d+(\.\d+)?$/.test(text)) throw new SimError('BAD_OPTION', `--${flag} "${String(text)}" is not a number`)
    return Number(text)
  }
  const options: WanOptions = {
    delayMs: number('wan-delay'),
    jitterMs: number('wan-jitter'),
    lossPercent: number('wan-loss'),
    subnet: values['wan-subnet'],
  }
  const path = values['wan-path']
  if (path !== undefined) {
    if (path !== 'auto' && path !== 'netem' && path !== 'relay') throw new SimError('BAD_OPTION', `--wan-path "${path}" is not auto, netem or relay`)
    options.delay = path
  }
  if (values.netns !== true) {
    const given = Object.keys(NETNS_FLAGS).find((flag) => flag !== 'netns' && values[flag as keyof NetnsFlagValues] !== undefined)
    if (given !== undefined) throw new SimError('BAD_OPTION', `--${given} needs --netns`)
    return undefined
  }
  return options
}

/** What the multi-host set-up hands to the launcher. */
export interface NetnsSetup {
  wan: SimulatedWan
  /** The sites at their namespace addresses. */
  sites: SiteConfig[]
  /** Where those site files are (`<state>/netns/sites`). */
  sitesDir: string
  /** The state folder of the multi-host mode (`<state>/netns`): its etcd members have other addresses. */
  stateDir: string
}

/**
 * Creates the WAN for `sites` and writes their copy at the namespace addresses into
 * `<stateDir>/netns/sites`. On failure nothing of the WAN is left.
 */
export async function setUpNetns(sites: readonly SiteConfig[], sitesDir: string, stateDir: string, options: WanOptions): Promise<NetnsSetup> {
  const wan = await SimulatedWan.create(
    sites.map((site) => site.id),
    options,
  )
  try {
    const netnsState = join(stateDir, 'netns')
    const netnsSites = join(netnsState, 'sites')
    await writeNetnsSites(sitesDir, netnsSites, wan.plan)
    const netnsSiteConfigs = await loadSites(netnsSites)
    if (wan.plan.delayPath === 'relay') await wan.startRelay(relayRoutes(netnsSiteConfigs, wan.plan))
    return { wan, sites: netnsSiteConfigs, sitesDir: netnsSites, stateDir: netnsState }
  } catch (error) {
    await wan.teardown().catch(() => undefined)
    throw error
  }
}

/**
 * The relay's routes for the sites (at their namespace addresses): every inter-site port of each
 * site, listened on at the site's own address and forwarded there from the client's address
 * (transparent: see netns.ts). TCP: etcd client and peer, registry gRPC, SIP contact and trunk;
 * UDP: SIP contact and trunk. The relay applies the plan's conditions in both directions.
 * @throws SimError `BAD_SITE` when a site's address field has no port.
 */
export function relayRoutes(sites: readonly SiteConfig[], plan: WanPlan): RelayRoute[] {
  const routes: RelayRoute[] = []
  const seen = new Set<string>()
  for (const site of sites) {
    const host = plan.sites.find((s) => s.siteId === site.id)?.address
    if (host === undefined) continue
    const add = (protocol: 'tcp' | 'udp', field: string, value: string, defaultPort?: number): void => {
      const port = portOf(value) ?? defaultPort
      if (port === undefined) throw new SimError('BAD_SITE', `${site.id}: ${field} "${value}" has no port for the WAN relay`)
      const key = `${protocol} ${host}:${port}`
      if (seen.has(key)) return
      seen.add(key)
      routes.push({ protocol, listen: { host, port }, target: { host, port }, sourceFromClient: true })
    }
    add('tcp', 'etcd.client_url', site.etcd.clientUrl)
    add('tcp', 'etcd.peer_url', site.etcd.peerUrl)
    add('tcp', 'registry.listen', site.registry.listen)
    for (const [field, value] of [['sip.contact', site.sip.contact], ['sip.trunk_uri', site.sip.trunkUri]] as const) {
      add('udp', field, value, 5060)
      add('tcp', field, value, 5060)
    }
  }
  return routes
}

/** The port of `http://h:p/...`, `sip:u@h:p;...` or `h:p`; undefined when there is none. */
function portOf(value: string): number | undefined {
  const match = /^(?:[a-z][a-z0-9+.-]*:(?:\/\/)?)?(?:[^@/;?]*@)?(?:\[[^\]]*\]|[^:/;?[\]]+):(\d+)/i.exec(value)
  return match ? Number(match[1]) : undefined
}

/**
 * Runs `flexseat-sim cut|heal <site>` or `flexseat-sim clean`; returns the exit code
 * (0 done, 1 failed, 2 usage). `out` gets the outcome, `err` errors.
 */
export async function runNetnsCommand(positionals: readonly string[], say: { out: (line: string) => void; err: (line: string) => void }): Promise<number> {
  const [command, site, ...rest] = positionals
  const usage = command === 'clean' ? site !== undefined : site === undefined || rest.length > 0
  if (usage || !(NETNS_COMMANDS as readonly (string | undefined)[]).includes(command)) {
    say.err('usage: flexseat-sim cut <site> | heal <site> | clean')
    return 2
  }
  if (process.getuid?.() !== 0) {
    say.err(`flexseat-sim ${command}: needs root (it changes the simulation's network namespaces)`)
    return 1
  }
  try {
    if (command === 'clean') {
      await removeWan()
      say.out('removed the namespaces, veths and bridge of the multi-host mode (if there were any)')
      return 0
    }
    const id = site as string
    if (command === 'cut') await cutSite(id)
    else await healSite(id)
    say.out(`${id} is ${(await isCut(id)) ? 'cut off' : 'connected'}`)
    return 0
  } catch (error) {
    say.err(`flexseat-sim ${command}: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  }
}

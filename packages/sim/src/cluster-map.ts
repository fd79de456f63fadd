import { relative } from 'node:path'
import type { SiteConfig } from '@flexseat/config'
import type { GetClusterStatusResponse } from '@flexseat/proto'
import { DEMO_DIRECTORY_FILE, type DemoDirectory } from './demo-directory'
import type { WanPlan } from './netns'

/** Where `flexseat` (packages/cli) looks for a registry when FLEXSEAT_REGISTRY is unset. */
const CLI_DEFAULT_REGISTRY = '127.0.0.1:50051'

/** What the map shows. */
export interface ClusterMapInput {
  sites: readonly SiteConfig[]
  /** Registry address by site id. */
  registries: ReadonlyMap<string, string>
  status: GetClusterStatusResponse | undefined
  stateDir: string
  /** The directory the user runs commands from, for relative paths. */
  cwd: string
  /** The simulation's phones and workers (their secrets are never printed, only the file's name). */
  directory?: DemoDirectory | undefined
  /** Whether the SIP engines and nodes run (they do under `npm start`). */
  sip?: boolean
  /** The simulated WAN, in the multi-host mode (`--netns`). */
  wan?: WanPlan | undefined
  /** Provisioning service base URL by site id (phones fetch their files there). */
  provisioning?: ReadonlyMap<string, string> | undefined
  /** Web portal URL by site id. */
  portal?: ReadonlyMap<string, string> | undefined
}

/**
 * The short map `npm start` prints once everything is ready: etcd members, registries, the
 * leader, and how to reach the cluster with the CLI. It names the admin token's FILE, never the
 * token: stdout is a log (`npm start > sim.log`, CI output), and tokens never go in logs.
 */
export function formatClusterMap(input: ClusterMapInput): string[] {
  const { sites, registries, status } = input
  const width = Math.max(...sites.map((site) => site.id.length))
  const leaderSite = status?.leader?.siteId
  const tokenPath = relative(input.cwd, `${input.stateDir}/admin-token`) || 'admin-token'
  // Name the registries only when the CLI's default does not reach one of them.
  const cliRegistry = [...registries.values()].includes(CLI_DEFAULT_REGISTRY) ? '' : `FLEXSEAT_REGISTRY=${[...registries.values()].join(',')} `
  const logsPath = relative(input.cwd, `${input.stateDir}/logs`) || 'logs'
  // The CLI looks in ./.state unless told otherwise.
  const stateOption = relative(input.cwd, input.stateDir) === '.state' ? '' : ` --state-dir ${input.stateDir}`
  const lines = ['', 'flexseat is running:', '', '  etcd cluster']
  for (const site of sites) lines.push(`    ${site.id.padEnd(width)}  ${site.etcd.name}  client ${site.etcd.clientUrl}  peer ${site.etcd.peerUrl}`)
  lines.push('', '  seat registry (gRPC)')
  for (const site of sites) {
    const address = registries.get(site.id) ?? '(not running)'
    lines.push(`    ${site.id.padEnd(width)}  ${address}${site.id === leaderSite ? '  ← leader' : ''}`)
  }
  if (input.wan !== undefined) lines.push(...formatWan(input.wan, width))
  if (input.sip === true) {
    lines.push('', '  branches (SIP: phones register here; the SIP node behind it runs on the engine\'s control socket)')
    for (const site of sites) lines.push(`    ${site.id.padEnd(width)}  ${site.sip.contact}  domain ${site.sip.domain}  control ${site.sip.control}`)
  }
  if (input.provisioning !== undefined && input.provisioning.size > 0) {
    lines.push('', '  provisioning (desk phones fetch <mac>.cfg / <mac>.xml / <mac>.json here, digest user = device id; Login/Logout keys open the softkey sign-in)')
    for (const site of sites) lines.push(`    ${site.id.padEnd(width)}  ${input.provisioning.get(site.id) ?? '(not running)'}`)
  }
  if (input.portal !== undefined && input.portal.size > 0) {
    lines.push('', `  web portal (workers: <url>/ with extension and PIN; administrators: <url>/admin with the admin token in ${tokenPath})`)
    for (const site of sites) lines.push(`    ${site.id.padEnd(width)}  ${input.portal.get(site.id) ?? '(not running)'}`)
  }
  if (input.directory !== undefined) {
    const directoryPath = relative(input.cwd, `${input.stateDir}/${DEMO_DIRECTORY_FILE}`) || DEMO_DIRECTORY_FILE
    lines.push('', `  phones (digest user = device id, realm = the branch's domain; passwords and PINs in ${directoryPath})`)
    for (const site of sites) {
      const phones = input.directory.devices.filter((device) => device.siteId === site.id)
      if (phones.length === 0) continue
      lines.push(`    ${site.id.padEnd(width)}  ${phones.map((d) => `${d.id} (${d.extension}${d.flexHost ? '' : ', not a flex desk'})`).join(', ')}`)
    }
    lines.push('  workers (sign in at a flex desk: dial *51*<extension>*<PIN>; *51 signs out)')
    for (const user of input.directory.users) {
      lines.push(`    ${user.extension}  ${user.displayName}, home ${user.homeSiteId}${user.roamingAllowed ? '' : ', home branch only'}`)
    }
  }
  lines.push(
    '',
    `  leader: ${status?.leader ? `${status.leader.siteId} (${status.leader.instanceId} at ${status.leader.address})` : 'none yet'}`,
    `  admin token file: ${tokenPath}   (mode 0600; the token itself is never printed)`,
    '',
    '  try:',
    `    ${cliRegistry}FLEXSEAT_TOKEN=$(cat ${tokenPath}) npx flexseat cluster status`,
    `    (the CLI asks ${CLI_DEFAULT_REGISTRY} unless told otherwise; FLEXSEAT_REGISTRY=${[...registries.values()].join(',')} fails over across every site)`,
    '',
    ...(input.sip === true ? ['    npm run demo        (plays the hot-desking story with simulated phones)'] : []),
    `    npx flexseat logs ${sites[0]?.id ?? '<site>'} sip-node -f${stateOption}   (a process's log; every log is in ${logsPath}/)`,
    '',
    '  Ctrl-C stops everything; `npm start` again resumes on the same data, `npm start -- --reset` starts afresh.',
    '',
  )
  return lines
}

/** The multi-host section: where each site lives, and how to cut one off and heal it. */
function formatWan(wan: WanPlan, width: number): string[] {
  const { delayMs, jitterMs, lossPercent } = wan.conditions
  const shaping = delayMs === 0 && jitterMs === 0 && lossPercent === 0
    ? 'no WAN delay'
    : `between two sites: ${delayMs} ms one way (round trip ${2 * delayMs} ms)${jitterMs > 0 ? ` ± ${jitterMs} ms` : ''}${lossPercent > 0 ? `, ${lossPercent}% loss` : ''}; ${
        wan.delayPath === 'relay'
          ? `by the userspace relay (no netem here) in namespace ${wan.relay.namespace} at ${wan.relay.address}, UDP loss only; host to site: none`
          : 'by netem; host to site: half'
      }`
  const example = wan.sites[1]?.siteId ?? wan.sites[0]?.siteId ?? '<site>'
  const lines = ['', `  multi-host mode: bridge ${wan.bridge} ${wan.hostAddress}/${wan.prefixLength} (this host); ${shaping}`]
  for (const site of wan.sites) lines.push(`    ${site.siteId.padEnd(width)}  ${site.address}  namespace ${site.namespace}  (veth ${site.hostLink})`)
  lines.push(
    `  cut a site off and heal it (as root):  npx flexseat-sim cut ${example}   npx flexseat-sim heal ${example}`,
    `  a shell inside a site:                 ip netns exec ${wan.sites.find((s) => s.siteId === example)?.namespace ?? `${wan.prefix}-<site>`} bash`,
    '  Ctrl-C also removes the namespaces and the bridge; `npx flexseat-sim clean` does it after a crash.',
  )
  return lines
}

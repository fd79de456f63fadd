import { relative } from 'node:path'
import type { SiteConfig } from '@flexseat/config'
import type { GetClusterStatusResponse } from '@flexseat/proto'

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
  const lines = ['', 'flexseat is running:', '', '  etcd cluster']
  for (const site of sites) lines.push(`    ${site.id.padEnd(width)}  ${site.etcd.name}  client ${site.etcd.clientUrl}  peer ${site.etcd.peerUrl}`)
  lines.push('', '  seat registry (gRPC)')
  for (const site of sites) {
    const address = registries.get(site.id) ?? '(not running)'
    lines.push(`    ${site.id.padEnd(width)}  ${address}${site.id === leaderSite ? '  ← leader' : ''}`)
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
    '  Ctrl-C stops everything; `npm start` again resumes on the same data, `npm start -- --reset` starts afresh.',
    '',
  )
  return lines
}

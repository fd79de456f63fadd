import { join } from 'node:path'
import { metricsListen, type SiteProcessKind } from './site-process-kind'
import { waitForLeader } from './cluster-status'
import { ensureDemoDirectory } from './demo-directory'
import { etcdLimitsEnv } from './etcd-cluster'

/**
 * The seat registry of each site: `node packages/registry/dist/main.js --site <id> --sites-dir <dir>`,
 * listening where the site file says, on the simulation's etcd cluster and tokens. Ready when it
 * logs `registry listening` with its bound address; the kind is settled once a leader is elected
 * and every site's instance is present.
 */
export const registryKind: SiteProcessKind = {
  name: 'registry',
  command(site, context) {
    return {
      command: process.execPath,
      args: [join(context.repoRoot, 'packages', 'registry', 'dist', 'main.js'), '--site', site.id, '--sites-dir', context.sitesDir],
      env: {
        // Prometheus metrics on a free port of the site's address (logged: `metrics listening`).
        FLEXSEAT_METRICS_LISTEN: metricsListen(site),
        // Nearest first (the registry's calls go to the first member that answers): one member
        // per site, in the sites' order, so each site starts with its own.
        FLEXSEAT_ETCD_ENDPOINTS: rotate(context.etcdEndpoints, context.sites.findIndex((s) => s.id === site.id)).join(','),
        // The limits the launcher's etcd members run with (EtcdCluster's defaults).
        ...etcdLimitsEnv(),
        // The leading registry moves etcd's raft leader to its own site's member (the first
        // endpoint above): docs/PERFORMANCE.md, "Under faults: chaos runs".
        FLEXSEAT_MOVE_ETCD_LEADER: 'true',
        FLEXSEAT_TOKENS_FILE: context.tokens.file,
        FLEXSEAT_CLUSTER_TOKEN: context.tokens.cluster,
        // Per-process settings the user's shell may carry would make every instance collide;
        // the site file decides. The simulation speaks plaintext gRPC on loopback.
        FLEXSEAT_REGISTRY_LISTEN: undefined,
        FLEXSEAT_ADVERTISE_ADDRESS: undefined,
        FLEXSEAT_TLS_CERT: undefined,
        FLEXSEAT_TLS_KEY: undefined,
        FLEXSEAT_TLS_CA: undefined,
        FLEXSEAT_TLS_CLIENT_AUTH: undefined,
        FLEXSEAT_TLS_CLIENT_SITE: undefined,
      },
    }
  },
  readyAddress({ record }) {
    return record?.msg === 'registry listening' && typeof record.address === 'string' ? record.address : undefined
  },
  async settle(context, signal) {
    const addresses = [...(context.addresses.get('registry')?.values() ?? [])]
    const status = await waitForLeader(addresses, context.tokens.admin, context.sites.map((site) => site.id), signal)
    const address = status.leader?.address ?? (addresses[0] as string)
    await ensureDemoDirectory({ address, token: context.tokens.admin, sites: context.sites, stateDir: context.stateDir, signal })
  },
}

/** `list` starting at index `from` (wrapping); unchanged for an index outside it. */
function rotate<T>(list: readonly T[], from: number): T[] {
  if (from <= 0 || from >= list.length) return [...list]
  return [...list.slice(from), ...list.slice(0, from)]
}

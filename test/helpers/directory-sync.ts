/**
 * The directory sync's tests against real registry processes (RegistryCluster) and a real slapd
 * (Slapd): a cluster whose instances run the sync from a configuration for that slapd, and the
 * DirectorySyncService calls the tests make.
 */
import { randomUUID } from 'node:crypto'
import {
  DirectorySyncMode,
  type DirectorySyncRun,
  DirectorySyncServiceClient,
  DirectorySyncState,
  type GetDirectorySyncStatusResponse,
  type SyncDirectoryResponse,
  unary,
  type User,
} from '@flexseat/proto'
import { credentials } from '@grpc/grpc-js'
import { eventually, RegistryCluster, type RegistryClusterOptions } from './registry-cluster'
import type { Slapd } from './ldap'

/** Options of {@link startSyncCluster}. */
export interface SyncClusterOptions extends Omit<RegistryClusterOptions, 'env'> {
  /** YAML of the configuration's `schedule` section (default: full syncs hourly, no incremental ones). */
  schedule?: string
  /** YAML appended at the configuration's top level (e.g. a `portal` section). */
  extra?: string
  /** The configuration's `templates` section, whole (default: Slapd.writeSyncConfig's). */
  templates?: string
  env?: Record<string, string>
}

/**
 * A registry cluster whose instances run the directory sync against `slapd` (by default 2
 * instances, amsterdam and berlin, on a 1-member etcd). Resolves once a leader is known and the
 * sync it ran on being elected has ended.
 */
export async function startSyncCluster(slapd: Slapd, options: SyncClusterOptions = {}): Promise<{ cluster: RegistryCluster; sync: SyncCalls }> {
  const file = await slapd.writeSyncConfig({ ...(options.templates === undefined ? {} : { templates: options.templates }), extra: `schedule:\n${(options.schedule ?? 'full_every: 1h\nincremental_every: 0s').split('\n').map((line) => `  ${line}`).join('\n')}\n${options.extra ?? ''}` })
  const { schedule: _schedule, extra: _extra, templates: _templates, env, ...rest } = options
  const cluster = await RegistryCluster.start({ instances: 2, etcdMembers: 1, ...rest, env: { FLEXSEAT_DIRECTORY_SYNC_FILE: file, ...env } })
  const sync = new SyncCalls(cluster)
  try {
    await eventually('the leader\'s first sync ended', async () => (await sync.status(await cluster.leader())).last !== undefined, 20_000)
  } catch (error) {
    sync.close()
    await cluster.stop()
    throw error
  }
  return { cluster, sync }
}

/** DirectorySyncService calls on the instances of a cluster (admin token). */
export class SyncCalls {
  readonly #cluster: RegistryCluster
  readonly #clients = new Map<string, DirectorySyncServiceClient>()

  constructor(cluster: RegistryCluster) {
    this.#cluster = cluster
  }

  client(index: number): DirectorySyncServiceClient {
    const { address } = this.#cluster.clients(index)
    let client = this.#clients.get(address)
    if (client === undefined) {
      client = new DirectorySyncServiceClient(address, credentials.createInsecure())
      this.#clients.set(address, client)
    }
    return client
  }

  /** SyncDirectory through instance `index` (a follower forwards it to the leader). */
  async sync(index: number, options: { dryRun?: boolean; mode?: DirectorySyncMode; requestId?: string; timeoutMs?: number } = {}): Promise<SyncDirectoryResponse> {
    const client = this.client(index)
    return unary(
      client.syncDirectory.bind(client),
      { requestId: options.requestId ?? randomUUID(), dryRun: options.dryRun ?? false, mode: options.mode ?? DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL },
      { metadata: this.#cluster.metadata('admin'), timeoutMs: options.timeoutMs ?? 10_000 },
    )
  }

  /** A sync through instance `index`, followed through the status until it has ended. */
  async syncToEnd(index: number, options: { mode?: DirectorySyncMode } = {}): Promise<{ run: DirectorySyncRun; response: SyncDirectoryResponse }> {
    const response = await this.sync(index, options)
    const started = response.run!
    if (started.state !== DirectorySyncState.DIRECTORY_SYNC_STATE_RUNNING) return { run: started, response }
    const run = await eventually(`run ${started.runId} ended`, async () => {
      const status = await this.status(index)
      return [status.last, status.lastFull].find((r) => r?.runId === started.runId)
    }, 20_000)
    return { run, response }
  }

  async status(index: number): Promise<GetDirectorySyncStatusResponse> {
    const client = this.client(index)
    return unary(client.getDirectorySyncStatus.bind(client), {}, { metadata: this.#cluster.metadata('viewer'), timeoutMs: 5_000 })
  }

  close(): void {
    for (const client of this.#clients.values()) client.close()
    this.#clients.clear()
  }
}

/** Every user, through instance `index`. */
export async function listAllUsers(cluster: RegistryCluster, index: number): Promise<User[]> {
  const { directory } = cluster.clients(index)
  const users: User[] = []
  let pageToken = ''
  do {
    const page = await unary(directory.listUsers.bind(directory), { homeSiteId: '', pageSize: 1_000, pageToken }, { metadata: cluster.metadata('admin') })
    users.push(...page.users)
    pageToken = page.nextPageToken
  } while (pageToken !== '')
  return users
}

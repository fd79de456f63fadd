import { type ChangeOutcome, DirectorySync, DirectorySyncError, type DirectorySyncConfig, type DirectoryReader, LdapDirectory, type SyncTarget } from '@flexseat/directory-sync'
import {
  type DirectoryChange,
  DirectorySyncMode,
  ErrorCode,
  GetDirectorySyncStatusResponse,
  type SyncDirectoryRequest,
  type SyncDirectoryResponse,
  type User,
} from '@flexseat/proto'
import type { Etcd3 } from 'etcd3'
import type { Logger } from 'pino'
import { applyDirectoryChanges, syncDepartmentPolicies } from './directory-sync-writes'
import { RegistryError, invalidArgument, unavailable } from './errors'
import type { FencedWriter } from './fenced-writer'
import type { Keys } from './keys'
import { parseJson } from './kv'
import type { RegistryReads } from './registry-reads'
import type { SeatContext } from './seats'
import type { TxnLimits } from './txn-limits'
import * as v from './validate'

/** How long a SyncDirectory call waits for its run at most, in ms: a call forwarded without a deadline of its own must answer within the forwarder's 10 s. */
export const SYNC_WAIT_MS = 8_000

/** Options of {@link DirectorySyncHost}. */
export interface DirectorySyncHostOptions {
  etcd: Etcd3
  keys: Keys
  writer: FencedWriter
  ctx: SeatContext
  reads: RegistryReads
  limits: TxnLimits
  instanceId: string
  logger: Logger
  /** Without it this instance runs no directory sync (it still answers the status). */
  config?: DirectorySyncConfig
  /** Where entries come from (default: the LDAP server of `config`). */
  reader?: DirectoryReader
}

/**
 * The registry's side of the directory sync (packages/directory-sync): hosts the scheduler on the
 * leader ({@link follow} starts it when the instance is elected and stops it, aborting the run
 * under way, at once when it loses leadership), gives it the registry as a {@link SyncTarget}
 * (the users; the changes through this instance's fenced writer; the status at
 * `directory-sync/status`), and serves SyncDirectory and GetDirectorySyncStatus.
 */
export class DirectorySyncHost {
  readonly #o: DirectorySyncHostOptions
  readonly #sync: DirectorySync | undefined

  constructor(options: DirectorySyncHostOptions) {
    this.#o = options
    const { config } = options
    if (config !== undefined) {
      const logger = options.logger.child({ component: 'directory-sync' })
      this.#sync = new DirectorySync({
        config,
        reader: options.reader ?? new LdapDirectory(config, logger),
        target: this.#target(),
        instanceId: options.instanceId,
        logger,
      })
    }
  }

  /** Whether this instance has a directory sync configured. */
  get configured(): boolean {
    return this.#sync !== undefined
  }

  /** Follows leadership: runs the sync while `leader`. */
  follow(leader: boolean): void {
    if (leader) this.#sync?.start()
    else void this.#sync?.stop()
  }

  /** Stops the sync (aborting a run under way); resolves once it has ended. */
  async stop(): Promise<void> {
    await this.#sync?.stop()
  }

  /**
   * SyncDirectory on the leader (the caller checked the role): NOT_CONFIGURED without a
   * configuration, NOT_LEADER while the sync does not run here. `deadline` (ms since epoch): the
   * call's, which bounds the wait for a run that writes.
   */
  async syncDirectory(req: SyncDirectoryRequest, deadline: number | undefined): Promise<SyncDirectoryResponse> {
    v.requestId(req.requestId)
    const mode = req.mode === DirectorySyncMode.DIRECTORY_SYNC_MODE_UNSPECIFIED ? DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL : req.mode
    if (mode !== DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL && mode !== DirectorySyncMode.DIRECTORY_SYNC_MODE_INCREMENTAL) throw invalidArgument('mode', 'must be FULL or INCREMENTAL')
    if (this.#sync === undefined) {
      throw new RegistryError(ErrorCode.ERROR_CODE_NOT_CONFIGURED, 'the leader has no directory sync configured (FLEXSEAT_DIRECTORY_SYNC_FILE)')
    }
    const waitMs = Math.min(SYNC_WAIT_MS, deadline === undefined ? SYNC_WAIT_MS : deadline - Date.now() - 1_000)
    try {
      return await this.#sync.syncNow({ requestId: req.requestId, mode, dryRun: req.dryRun }, waitMs)
    } catch (error) {
      if (error instanceof DirectorySyncError && error.code === 'ABORTED') throw new RegistryError(ErrorCode.ERROR_CODE_NOT_LEADER, error.message, { retryAfterMs: 500 })
      if (error instanceof RegistryError) throw error
      // Reading the recorded runs failed: etcd did not answer.
      throw unavailable('etcd did not answer; retry', 500, error)
    }
  }

  /** The recorded status (any instance; a linearizable read). */
  async status(): Promise<GetDirectorySyncStatusResponse> {
    const kv = (await this.#o.etcd.kv.range({ key: Buffer.from(this.#o.keys.directorySyncStatus) })).kvs[0]
    return kv === undefined ? GetDirectorySyncStatusResponse.fromPartial({}) : GetDirectorySyncStatusResponse.fromJSON(parseJson<unknown>(kv))
  }

  #target(): SyncTarget {
    const o = this.#o
    return {
      listUsers: async (signal) => {
        const users: User[] = []
        let pageToken = ''
        do {
          if (signal.aborted) throw signal.reason
          const page = await o.reads.listUsers({ homeSiteId: '', pageSize: 1_000, pageToken })
          users.push(...page.users)
          pageToken = page.nextPageToken
        } while (pageToken !== '')
        return users
      },
      apply: (changes: readonly DirectoryChange[], options): Promise<ChangeOutcome[]> =>
        applyDirectoryChanges({ ctx: o.ctx, writer: o.writer, etcd: o.etcd, limits: o.limits }, changes, options),
      syncDepartmentPolicies: (policies, options) => syncDepartmentPolicies({ ctx: o.ctx, writer: o.writer, etcd: o.etcd, limits: o.limits }, policies, options),
      readStatus: () => this.status(),
      writeStatus: async (status) => {
        const value = GetDirectorySyncStatusResponse.toJSON(status)
        await o.writer.apply('directory sync status', async () => ({ ops: [{ type: 'put', key: o.keys.directorySyncStatus, value }], outcome: undefined }))
      },
    }
  }
}

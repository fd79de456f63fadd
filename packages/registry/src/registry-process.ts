import { createHash, randomBytes } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import type { Etcd3 } from 'etcd3'
import { DirectoryServiceService, ErrorCode, type Site } from '@flexseat/proto'
import type { SiteConfig } from '@flexseat/config'
import type { Logger } from 'pino'
import type { Caller } from './caller'
import { type RegistryConfig, RegistryConfigError } from './config'
import { createEtcdClient } from './etcd-client'
import { EtcdLeaderPlacement } from './etcd-leader-placement'
import { RegistryError } from './errors'
import { RegistryServer } from './grpc-server'
import { RegistryCore } from './registry-core'
import { acceptsTxnOps } from './txn-limits'

/** Options of {@link RegistryProcess.start}. */
export interface RegistryProcessOptions {
  config: RegistryConfig
  logger: Logger
  /** Software version advertised in the cluster status. */
  version: string
}

/**
 * One registry instance as a process runs it: the gRPC server bound first (its address is what
 * the instance advertises), the etcd client, the core, and the site bootstrap (the instance's own
 * site is created in the directory when absent, through the normal write path).
 *
 * State: running after {@link start}; {@link shutdown} resigns leadership at once (a successor is
 * elected without waiting for the lease), drains the server, stops the core, closes etcd.
 */
export class RegistryProcess {
  readonly instanceId: string
  readonly server: RegistryServer
  readonly core: RegistryCore
  readonly #etcd: Etcd3
  readonly #logger: Logger
  readonly #placement: EtcdLeaderPlacement | undefined
  readonly #stopping = new AbortController()
  #shutdown: Promise<void> | undefined

  private constructor(instanceId: string, server: RegistryServer, core: RegistryCore, etcd: Etcd3, logger: Logger, placement: EtcdLeaderPlacement | undefined) {
    this.instanceId = instanceId
    this.server = server
    this.core = core
    this.#etcd = etcd
    this.#logger = logger
    this.#placement = placement
  }

  /** Starts the instance; resolves once it serves calls. */
  static async start(options: RegistryProcessOptions): Promise<RegistryProcess> {
    const { config, logger } = options
    const instanceId = `${config.site.id}-${randomBytes(4).toString('hex')}`
    const server = await RegistryServer.create({
      instanceId,
      listen: config.listen,
      tokens: config.tokens,
      ...(config.clusterToken === undefined ? {} : { clusterToken: config.clusterToken }),
      ...(config.tls === undefined ? {} : { tls: config.tls }),
      logger,
    })
    if (config.advertiseAddress === undefined && /^(0\.0\.0\.0|\[?::\]?):/.test(server.address)) {
      logger.warn({ address: server.address }, 'listening on a wildcard address without FLEXSEAT_ADVERTISE_ADDRESS: other instances cannot forward writes here')
    }
    if (config.policyUnits.hourMs !== 3_600_000) logger.warn('FLEXSEAT_TEST_POLICY_SECONDS=1: sign-out policy hours and minutes count as seconds (tests only)')
    const etcd = createEtcdClient(config.etcdEndpoints)
    let core: RegistryCore
    try {
      // A registry that splits its batches by more operations than the cluster allows would meet
      // etcd's refusal at the worst moment (a mass revocation): say so now, and do not start.
      if (!(await acceptsTxnOps(etcd, `${config.etcdPrefix}txn-limits-probe`, config.txnLimits.maxTxnOps))) {
        throw new RegistryConfigError(`FLEXSEAT_ETCD_MAX_TXN_OPS: etcd refuses transactions of ${config.txnLimits.maxTxnOps} operations; set it to the cluster's --max-txn-ops (default 128)`)
      }
      core = await RegistryCore.create({
        etcd,
        prefix: config.etcdPrefix,
        instance: { id: instanceId, siteId: config.site.id, address: config.advertiseAddress ?? server.address, version: options.version },
        leaseTtlSeconds: config.leaseTtlSeconds,
        confirmationLeaseSeconds: config.confirmationLeaseSeconds,
        lockout: config.lockout,
        txnLimits: config.txnLimits,
        groupCommit: config.groupCommit,
        callList: config.callList,
        sessions: config.sessions,
        seatHistory: config.seatHistory,
        policyUnits: config.policyUnits,
        ...(config.directorySync === undefined ? {} : { directorySync: { config: config.directorySync } }),
        deskThrottle: config.deskThrottle,
        logger,
      })
    } catch (error) {
      await server.stop(0)
      etcd.close()
      throw error
    }
    server.attach(core)
    // etcd's raft leader beside this instance while it leads (FLEXSEAT_MOVE_ETCD_LEADER): it
    // only follows the core's leadership, never decides it.
    let placement: EtcdLeaderPlacement | undefined
    if (config.etcdLeaderPlacement.enabled) {
      const leaderPlacement = new EtcdLeaderPlacement({ endpoints: config.etcdEndpoints, connect: (endpoint) => createEtcdClient([endpoint]), minIntervalMs: config.etcdLeaderPlacement.minIntervalMs, logger: logger.child({ instance: instanceId }) })
      core.on('leadership', (leading: boolean) => leaderPlacement.follow(leading))
      leaderPlacement.follow(core.isLeader)
      placement = leaderPlacement
    }
    const instance = new RegistryProcess(instanceId, server, core, etcd, logger, placement)
    logger.info({ address: server.address, advertise: config.advertiseAddress ?? server.address, instanceId }, 'registry listening')
    void instance.#ensureSite(config.site)
    return instance
  }

  /**
   * Makes the directory's record of this instance's site match sites/<id>.yaml: creates it when
   * absent, updates the fields that differ (name, timezone, emergency numbers, dispatchable
   * location, trunk URI, SIP domain) when present, through the leader; retries until it succeeds or the
   * instance stops. Idempotent across instances and restarts: request ids are derived from the
   * site's content (and, for an update, the record's revision, so that changing a file back and
   * forth is not mistaken for a replay).
   */
  async #ensureSite(site: SiteConfig): Promise<void> {
    const caller: Caller = { name: `registry-${site.id}`, role: 'registry' }
    const record: Site = {
      id: site.id,
      name: site.name,
      timezone: site.timezone,
      emergencyNumbers: [...site.emergencyNumbers],
      dispatchableLocation: site.dispatchableLocation,
      sipTrunkUri: site.sip.trunkUri,
      revision: '0',
      sipDomain: site.sip.domain,
    }
    const contentHash = createHash('sha256').update(JSON.stringify(record)).digest('hex').slice(0, 16)
    const signal = this.#stopping.signal
    for (let attempt = 1; !signal.aborted; attempt += 1) {
      try {
        const existing = await this.core.getSite({ siteId: site.id }).catch((error: unknown) => {
          if (error instanceof RegistryError && error.code === ErrorCode.ERROR_CODE_SITE_NOT_FOUND) return undefined
          throw error
        })
        if (existing?.site === undefined) {
          const requestId = `ensure-site-${site.id}-${contentHash}`
          const request = { requestId, site: record }
          await this.server.write(DirectoryServiceService.createSite, request, caller, (core) => core.createSite(request, caller))
          this.#logger.info({ siteId: site.id }, 'site created in the directory')
          return
        }
        const changed = siteFieldsThatDiffer(existing.site, record)
        if (changed.length === 0) {
          this.#logger.debug({ siteId: site.id }, 'site record matches the site file')
          return
        }
        const requestId = `ensure-site-${site.id}-${contentHash}-r${existing.site.revision}`
        const request = { requestId, site: record, updateMask: changed }
        await this.server.write(DirectoryServiceService.updateSite, request, caller, (core) => core.updateSite(request, caller))
        this.#logger.info({ siteId: site.id, fields: changed }, 'site updated in the directory from its site file')
        return
      } catch (error) {
        // Another instance of this site created it first: look again (it may still differ).
        if (error instanceof RegistryError && error.code === ErrorCode.ERROR_CODE_ALREADY_EXISTS) continue
        if (error instanceof RegistryError && error.code === ErrorCode.ERROR_CODE_REQUEST_ID_REUSED) return
        const level = attempt >= 5 ? 'warn' : 'debug'
        this.#logger[level]({ err: error, attempt }, 'could not ensure the site record yet; retrying')
        await delay(Math.min(200 * attempt, 2_000), undefined, { signal, ref: false }).catch(() => undefined)
      }
    }
  }

  /**
   * Resigns leadership at once, drains the gRPC server (calls in progress may finish for
   * `graceMs`, default 5 000), stops the core and closes etcd. Idempotent.
   */
  shutdown(graceMs = 5_000): Promise<void> {
    this.#shutdown ??= this.#doShutdown(graceMs)
    return this.#shutdown
  }

  async #doShutdown(graceMs: number): Promise<void> {
    this.#stopping.abort()
    await this.core.resign().catch((error: unknown) => this.#logger.warn({ err: error }, 'could not resign leadership'))
    await this.#placement?.stop()
    await this.server.stop(graceMs)
    await this.core.stop().catch((error: unknown) => this.#logger.warn({ err: error }, 'core did not stop cleanly'))
    this.#etcd.close()
  }
}

/** The update-mask paths (proto names) of the site-file fields in which `current` differs from `wanted`. */
function siteFieldsThatDiffer(current: Site, wanted: Site): string[] {
  const changed: string[] = []
  if (current.name !== wanted.name) changed.push('name')
  if (current.timezone !== wanted.timezone) changed.push('timezone')
  if (JSON.stringify(current.emergencyNumbers) !== JSON.stringify(wanted.emergencyNumbers)) changed.push('emergency_numbers')
  if (current.dispatchableLocation !== wanted.dispatchableLocation) changed.push('dispatchable_location')
  if (current.sipTrunkUri !== wanted.sipTrunkUri) changed.push('sip_trunk_uri')
  if ((current.sipDomain ?? '') !== (wanted.sipDomain ?? '')) changed.push('sip_domain')
  return changed
}

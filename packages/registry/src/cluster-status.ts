import type { Etcd3 } from 'etcd3'
import { type GetClusterStatusResponse, type Instance, InstanceHealth } from '@flexseat/proto'
import type { Keys } from './keys'
import { parseJson, prefixEnd } from './kv'
import type { LeaderInfo } from './leadership'
import { branchNodes } from './phone-bindings'
import type { PresenceRecord } from './presence'

/** What {@link ClusterStatus} needs. */
export interface ClusterStatusOptions {
  etcd: Etcd3
  keys: Keys
  /** The instance answering: reported as `answered_by`, and its own health is `healthy()`. */
  instanceId: string
  /** The current leader as etcd knows it, if any. */
  currentLeader: () => Promise<LeaderInfo | undefined>
  /** Whether this instance serves (other instances count as serving while their presence lives). */
  healthy: () => boolean
  /** The clock phone bindings expire by. */
  now: () => number
}

/**
 * Assembles the cluster status (see ClusterService.GetClusterStatus): the registry instances
 * present, the leader, and the branches (confirmation lease holders and online phones).
 */
export class ClusterStatus {
  readonly #o: ClusterStatusOptions

  constructor(options: ClusterStatusOptions) {
    this.#o = options
  }

  /**
   * Reads the status. Instances, branch leases and bindings are read at one revision; the
   * leader in a second request. etcd faults reject as they are (the caller retries and maps them).
   */
  async read(): Promise<GetClusterStatusResponse> {
    const { etcd, keys, instanceId } = this.#o
    // Instances, branch leases and phone bindings in one round trip, at one revision.
    const ranges = await etcd.kv.txn({
      compare: [],
      success: [keys.instances, keys.nodes, keys.bindings].map((prefix) => ({ request_range: { key: Buffer.from(prefix), range_end: prefixEnd(prefix) } })),
      failure: [],
    })
    const [instanceKvs, nodeKvs, bindingKvs] = ranges.responses.map((r) => r.response_range.kvs)
    const res = { kvs: instanceKvs ?? [], header: ranges.header }
    const branches = branchNodes(keys, nodeKvs ?? [], bindingKvs ?? [], this.#o.now())
    const leader = await this.#o.currentLeader()
    const instances: Instance[] = res.kvs.map((kv) => {
      const id = kv.key.toString('utf8').slice(keys.instances.length)
      const p = parseJson<PresenceRecord>(kv)
      const self = id === instanceId
      return {
        instanceId: id,
        siteId: p.siteId,
        address: p.address,
        leader: leader?.instanceId === id,
        health: !self || this.#o.healthy() ? InstanceHealth.INSTANCE_HEALTH_SERVING : InstanceHealth.INSTANCE_HEALTH_NOT_SERVING,
        startedAt: new Date(p.startedAt),
        version: p.version,
      }
    })
    const leaderInstance = leader && (instances.find((i) => i.instanceId === leader.instanceId) ?? {
      instanceId: leader.instanceId,
      siteId: leader.siteId,
      address: leader.address,
      leader: true,
      health: InstanceHealth.INSTANCE_HEALTH_UNSPECIFIED,
      startedAt: undefined,
      version: '',
    })
    return { leader: leaderInstance, leaderSince: leader?.since, instances, answeredBy: instanceId, revision: res.header.revision, branches }
  }
}

/**
 * Registry cores with a short confirmation lease, for the bounded revocation tests
 * (registry-revocation-*.test.ts): the same set-up as registry-core-harness.ts's startCore, plus
 * `confirmationLeaseSeconds`, and a few branch-side helpers (a node renewing its lease).
 */
import { randomUUID } from 'node:crypto'
import pino, { type Logger } from 'pino'
import type { Etcd3, IKeyValue } from 'etcd3'
import { createEtcdClient, Keys, RegistryCore } from '@flexseat/registry'
import { validUntil } from '@flexseat/sip-node'
import { DEFAULT_TEST_TTL_SECONDS, SIP_NODE, TEST_SCRYPT, seed, waitFor } from './registry-core-harness'

type Test = { teardown: (fn: () => unknown) => void }

export interface RevocationCore {
  core: RegistryCore
  etcd: Etcd3
  keys: Keys
}

/**
 * Starts a core whose branches' confirmation leases last `confirmationLeaseSeconds`, and waits
 * until it leads (unless `follower`: a second core, which campaigns behind the first).
 */
export async function startRevocationCore(
  t: Test,
  endpoints: readonly string[],
  options: { prefix: string; site: string; confirmationLeaseSeconds: number; clock?: () => number; monotonicClock?: () => number; logger?: Logger; follower?: boolean },
): Promise<RevocationCore> {
  const etcd = createEtcdClient(endpoints, { callTimeoutMs: 3_000 })
  const core = await RegistryCore.create({
    etcd,
    prefix: options.prefix,
    instance: { id: `${options.site}-${randomUUID().slice(0, 6)}`, siteId: options.site, address: `127.0.0.1:${10_000 + Math.floor(Math.random() * 50_000)}`, version: 'test' },
    leaseTtlSeconds: DEFAULT_TEST_TTL_SECONDS,
    confirmationLeaseSeconds: options.confirmationLeaseSeconds,
    logger: options.logger ?? pino({ level: process.env.FLEXSEAT_TEST_LOG ?? 'silent' }),
    pinHash: TEST_SCRYPT,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.monotonicClock ? { monotonicClock: options.monotonicClock } : {}),
  })
  t.teardown(async () => {
    await core.stop(2_000)
    etcd.close()
  })
  if (!options.follower) await waitFor(() => core.isLeader, 15_000, 'the core to lead')
  return { core, etcd, keys: new Keys(options.prefix) }
}

/** Three branches, two flex desks each, and workers alice (1001) and bob (1002). */
export async function seedBranches(core: RegistryCore): Promise<void> {
  await seed(core, {
    sites: ['amsterdam', 'berlin', 'chicago'],
    devices: ['ams-1', 'ams-2', 'ber-1', 'ber-2', 'chi-1'].map((id) => ({ id, site: { ams: 'amsterdam', ber: 'berlin', chi: 'chicago' }[id.slice(0, 3)]! })),
    users: [
      { id: 'alice', extension: '1001', site: 'amsterdam', pin: '73519284' },
      { id: 'bob', extension: '1002', site: 'amsterdam', pin: '46281937' },
    ],
  })
}

/** A branch node's lease calls, as the node `nodeId` of `siteId` makes them. */
export function branchNode(core: RegistryCore, siteId: string, nodeId = `${siteId}-${randomUUID().slice(0, 8)}`) {
  return {
    nodeId,
    renew: (appliedRevision: bigint | string = 0n) => core.renewLease({ siteId, nodeId, appliedRevision: String(appliedRevision) }, SIP_NODE),
    release: () => core.releaseLease({ siteId, nodeId }, SIP_NODE),
    ack: (revocations: { userId: string; epoch: string }[]) => core.ackRevocations({ siteId, nodeId, revocations }, SIP_NODE),
  }
}

/** Whether the promise has settled by now (without waiting for it). */
export async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false
  p.then(() => (done = true), () => (done = true))
  await new Promise((resolve) => setImmediate(resolve))
  return done
}

/** The keys under `prefix` (full names), e.g. the revocation index. */
export async function keysUnder(etcd: Etcd3, prefix: string): Promise<string[]> {
  const end = Buffer.from(prefix)
  end[end.length - 1]! += 1
  const res = await etcd.kv.range({ key: Buffer.from(prefix), range_end: end, keys_only: true })
  return res.kvs.map((kv) => kv.key.toString('utf8'))
}

/**
 * The outstanding revocations a released seat left (`revoking/<user>`), as [site, device, epoch]
 * triples, or undefined when there is no such record.
 */
export async function revokingOf(etcd: Etcd3, keys: Keys, userId: string): Promise<[string, string, string][] | undefined> {
  const kv = (await etcd.kv.range({ key: Buffer.from(keys.revoking(userId)) })).kvs[0]
  if (!kv) return undefined
  const entries = JSON.parse(kv.value.toString('utf8')) as { siteId: string; deviceId: string; epoch: string }[]
  return entries.map((e) => [e.siteId, e.deviceId, e.epoch])
}

/**
 * A branch node's lease as the SIP node itself counts it (sip-node's `validUntil`: valid until the
 * send time of the last renewal that succeeded + TTL − max(250 ms, 10 %), by the monotonic clock),
 * for tests that play the node. When that validity runs out, it writes `key` to etcd: etcd's
 * history then orders the moment the node stopped acting against the registry's writes, and a
 * takeover's completion must come after it (invariant 4). The timer is checked against the clock,
 * so the key is never written early; written late (a busy machine), it only makes the check
 * stricter.
 */
export class NodeValidity {
  readonly #etcd: Etcd3
  readonly #key: string
  #timer: NodeJS.Timeout | undefined
  #validUntil: number | undefined
  #stopped: Promise<{ revision: bigint; validUntil: number }> | undefined
  #resolveStopped: ((stop: { revision: bigint; validUntil: number }) => void) | undefined
  /** performance.now() when the last renewal that succeeded was sent. */
  lastSentAt: number | undefined

  constructor(etcd: Etcd3, key: string) {
    this.#etcd = etcd
    this.#key = key
  }

  /** Until when the node may act, by its clock (performance.now); undefined before a success. */
  get validUntil(): number | undefined {
    return this.#validUntil
  }

  /** Sends a renewal through `renew`; when it succeeds, the validity runs from the send. */
  async renew<R extends { leaseSeconds: number }>(renew: () => Promise<R>): Promise<R> {
    const sentAt = performance.now()
    const res = await renew()
    const until = validUntil(sentAt, res.leaseSeconds)
    if (this.#validUntil === undefined || until > this.#validUntil) {
      this.#validUntil = until
      this.lastSentAt = sentAt
      this.#stopped = new Promise((resolve) => (this.#resolveStopped = resolve))
      this.#arm()
    }
    return res
  }

  /** The revision at which etcd recorded that the node stopped acting (once its validity ran out). */
  stopped(): Promise<{ revision: bigint; validUntil: number }> {
    if (this.#stopped === undefined) throw new Error('the node never held a lease')
    return this.#stopped
  }

  /** Stops the timer (teardown). */
  close(): void {
    clearTimeout(this.#timer)
  }

  #arm(): void {
    clearTimeout(this.#timer)
    const until = this.#validUntil!
    const resolve = this.#resolveStopped!
    this.#timer = setTimeout(() => {
      if (performance.now() < until) return this.#arm()
      void this.#etcd.kv.put({ key: Buffer.from(this.#key), value: Buffer.from(String(until)) }).then((res) => {
        if (this.#validUntil === until) resolve({ revision: BigInt(res.header.revision), validUntil: until })
      })
    }, Math.max(0, Math.ceil(until - performance.now())))
  }
}

/** The key under `prefix` at `revision` (undefined when it did not exist then). */
export async function keyAt(etcd: Etcd3, key: string, revision: bigint): Promise<IKeyValue | undefined> {
  return (await etcd.kv.range({ key: Buffer.from(key), revision: String(revision) })).kvs[0]
}

/** One etcd keepalive of lease `leaseId` (as any client may send): its TTL, or ≤ 0 when it is gone. */
export async function keepAliveOnce(etcd: Etcd3, leaseId: string): Promise<number> {
  const stream = await etcd.leaseClient.leaseKeepAlive()
  try {
    const res = await new Promise<{ TTL: string }>((resolve, reject) => {
      stream.on('data', resolve)
      stream.on('error', reject)
      stream.write({ ID: leaseId })
    })
    return Number(res.TTL)
  } finally {
    stream.end()
  }
}

/**
 * Keeps the branch's etcd lease alive from the test (every second) until the returned function is
 * called or the lease is gone: etcd then never expires it, so only the registry leader can end it.
 */
export function holdInEtcd(etcd: Etcd3, leaseId: string): () => void {
  let stopped = false
  const loop = async (): Promise<void> => {
    while (!stopped) {
      const ttl = await keepAliveOnce(etcd, leaseId).catch(() => 0)
      if (!(ttl > 0)) return
      await new Promise((resolve) => setTimeout(resolve, 1_000))
    }
  }
  void loop()
  return () => void (stopped = true)
}

/**
 * A renewal of the site's confirmation lease as another registry leader would serve it: etcd's
 * keepalive, then `renewals/<site>` (on the lease), answering the TTL. The current leader does not
 * know of it; used with {@link NodeValidity.renew}, the node counts its lease from it.
 */
export async function renewAsAnotherLeader(etcd: Etcd3, keys: Keys, siteId: string): Promise<{ leaseSeconds: number }> {
  const nodeKv = (await etcd.kv.range({ key: Buffer.from(keys.node(siteId)) })).kvs[0]
  if (!nodeKv) throw new Error(`no lease at ${siteId}`)
  const holder = JSON.parse(nodeKv.value.toString('utf8')) as { nodeId: string; leaseId: string }
  const leaseSeconds = await keepAliveOnce(etcd, holder.leaseId)
  if (!(leaseSeconds > 0)) throw new Error(`the lease of ${siteId} is gone`)
  await etcd.kv.put({ key: Buffer.from(keys.renewal(siteId)), value: Buffer.from(JSON.stringify({ ...holder, leaseSeconds })), lease: holder.leaseId })
  return { leaseSeconds }
}

/**
 * Registry cores with a short confirmation lease, for the bounded revocation tests
 * (registry-revocation-*.test.ts): the same set-up as registry-core-harness.ts's startCore, plus
 * `confirmationLeaseSeconds`, and a few branch-side helpers (a node renewing its lease).
 */
import { randomUUID } from 'node:crypto'
import pino, { type Logger } from 'pino'
import type { Etcd3 } from 'etcd3'
import { createEtcdClient, Keys, RegistryCore } from '@flexseat/registry'
import { DEFAULT_TEST_TTL_SECONDS, SIP_NODE, TEST_SCRYPT, seed, waitFor } from './registry-core-harness'

type Test = { teardown: (fn: () => unknown) => void }

export interface RevocationCore {
  core: RegistryCore
  etcd: Etcd3
  keys: Keys
}

/** Starts a core whose branches' confirmation leases last `confirmationLeaseSeconds`. */
export async function startRevocationCore(
  t: Test,
  endpoints: readonly string[],
  options: { prefix: string; site: string; confirmationLeaseSeconds: number; clock?: () => number; monotonicClock?: () => number; logger?: Logger },
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
  await waitFor(() => core.isLeader, 15_000, 'the core to lead')
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

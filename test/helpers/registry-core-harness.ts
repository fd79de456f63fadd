/**
 * In-process registry cores over a real etcd cluster, for the core's tests: each core gets its
 * own etcd client (createEtcdClient), a silent logger, cheap scrypt parameters, and a shared
 * fresh key prefix; `t.teardown` stops them, then the cluster.
 */
import { randomUUID } from 'node:crypto'
import { type Server, type Socket, createConnection, createServer } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino, { type Logger } from 'pino'
import type { Etcd3 } from 'etcd3'
import { EtcdCluster, type EtcdTxnLimits } from '@flexseat/sim'
import { User } from '@flexseat/proto'
import type { Meter } from '@opentelemetry/api'
import { type Caller, createEtcdClient, type DeskThrottlePolicy, type LockoutPolicy, RegistryCore, RegistryError, type SeatHistoryPolicy } from '@flexseat/registry'

type Test = { teardown: (fn: () => unknown) => void }

export const ADMIN: Caller = { name: 'ops-admin', role: 'admin' }
export const SIP_NODE: Caller = { name: 'sip-amsterdam', role: 'sip-node' }

/** Fast scrypt for tests (production uses N=16384). */
export const TEST_SCRYPT = { N: 1024, r: 8, p: 1 }

export function rid(label = 'r'): string {
  return `${label}-${randomUUID()}`
}

export function freshPrefix(): string {
  return `test-${randomUUID().slice(0, 8)}/`
}

/**
 * A fresh etcd cluster of `members`, removed in teardown. `txnLimits`: its `--max-txn-ops` and
 * `--max-request-bytes` (default etcd's); cores on it must be given the same (`txnLimits`).
 */
export async function startEtcd(t: Test, members = 3, txnLimits?: EtcdTxnLimits): Promise<EtcdCluster> {
  const dataDir = await mkdtemp(join(tmpdir(), 'flexseat-core-'))
  let cluster: EtcdCluster
  try {
    cluster = await EtcdCluster.start({ members, dataDir, fresh: true, ...(txnLimits ? { txnLimits } : {}) })
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true })
    throw error
  }
  // Each member's data is tens to hundreds of MB: remove it once the cluster has stopped.
  t.teardown(async () => {
    await cluster.stop()
    await rm(dataDir, { recursive: true, force: true })
  })
  return cluster
}

export interface CoreHandle {
  core: RegistryCore
  etcd: Etcd3
  id: string
  /** With `proxied`: cuts this instance off from etcd at once (as if its process died). */
  cut: () => Promise<void>
}

/**
 * TCP proxies in front of etcd members, so a test can cut one instance off from the cluster
 * at once: closing a gRPC client does not end its open streams (lease keepalives go on), a cut
 * connection does.
 */
async function proxies(t: Test, endpoints: readonly string[]): Promise<{ endpoints: string[]; cut: () => Promise<void> }> {
  const servers: Server[] = []
  const sockets = new Set<Socket>()
  const out: string[] = []
  for (const endpoint of endpoints) {
    const target = new URL(endpoint)
    const server = createServer((client) => {
      const upstream = createConnection({ host: target.hostname, port: Number(target.port) })
      sockets.add(client).add(upstream)
      client.pipe(upstream).pipe(client)
      const end = () => {
        client.destroy()
        upstream.destroy()
        sockets.delete(client)
        sockets.delete(upstream)
      }
      client.on('error', end).on('close', end)
      upstream.on('error', end).on('close', end)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    if (!address || typeof address === 'string') throw new Error('proxy did not bind')
    servers.push(server)
    out.push(`http://127.0.0.1:${address.port}`)
  }
  const cut = async () => {
    const closed = Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
    for (const socket of Array.from(sockets)) socket.destroy()
    await closed
  }
  t.teardown(cut)
  return { endpoints: out, cut }
}

/**
 * The lease TTL of a core unless a test sets `ttl`: long enough that a loaded machine does not
 * depose a leader spuriously (the cores' callers do not retry on NOT_LEADER). Tests about
 * failover set a short one themselves.
 */
export const DEFAULT_TEST_TTL_SECONDS = 5

/**
 * Starts a core. `ttl` defaults to {@link DEFAULT_TEST_TTL_SECONDS}; `logger` to a silent one
 * (level from FLEXSEAT_TEST_LOG); `proxied` puts TCP proxies between it and etcd (see `cut`).
 */
export async function startCore(
  t: Test,
  endpoints: readonly string[],
  options: { prefix: string; site: string; ttl?: number; lockout?: LockoutPolicy; deskThrottle?: DeskThrottlePolicy; meter?: Meter; id?: string; clock?: () => number; proxied?: boolean; logger?: Logger; seatHistory?: SeatHistoryPolicy },
): Promise<CoreHandle> {
  const proxy = options.proxied ? await proxies(t, endpoints) : undefined
  const etcd = createEtcdClient(proxy?.endpoints ?? endpoints, { callTimeoutMs: 3_000 })
  const id = options.id ?? `${options.site}-${randomUUID().slice(0, 6)}`
  const core = await RegistryCore.create({
    etcd,
    prefix: options.prefix,
    instance: { id, siteId: options.site, address: `127.0.0.1:${10_000 + Math.floor(Math.random() * 50_000)}`, version: 'test' },
    leaseTtlSeconds: options.ttl ?? DEFAULT_TEST_TTL_SECONDS,
    ...(options.lockout ? { lockout: options.lockout } : {}),
    ...(options.deskThrottle ? { deskThrottle: options.deskThrottle } : {}),
    ...(options.meter ? { meter: options.meter } : {}),
    logger: options.logger ?? pino({ level: process.env.FLEXSEAT_TEST_LOG ?? 'silent' }),
    pinHash: TEST_SCRYPT,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.seatHistory ? { seatHistory: options.seatHistory } : {}),
  })
  t.teardown(async () => {
    await core.stop(2_000)
    etcd.close()
  })
  return { core, etcd, id, cut: proxy?.cut ?? (() => Promise.reject(new Error('not proxied'))) }
}

/** Polls `condition` until it holds (or throws after `timeoutMs`). */
export async function waitFor<T>(condition: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await condition()
    if (value) return value as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** The one core that leads (waits until exactly one does). */
export async function leaderOf(cores: readonly CoreHandle[], timeoutMs = 15_000): Promise<CoreHandle> {
  return waitFor(() => {
    const leaders = cores.filter((c) => c.core.isLeader)
    return leaders.length === 1 ? leaders[0] : undefined
  }, timeoutMs, 'one leader')
}

/** Sites, devices and users most tests need. */
export async function seed(core: RegistryCore, spec: {
  sites: string[]
  devices: { id: string; site: string; flexHost?: boolean; extension?: string }[]
  users: { id: string; extension: string; site: string; pin: string; roaming?: boolean; maxSeatHours?: number }[]
}): Promise<void> {
  for (const site of spec.sites) {
    await core.createSite({ requestId: rid('site'), site: { id: site, name: site, timezone: 'Europe/Amsterdam', emergencyNumbers: ['112'], dispatchableLocation: `${site} HQ`, sipTrunkUri: `sip:${site}.example`, revision: '0' } }, ADMIN)
  }
  for (const d of spec.devices) {
    await core.createDevice({ requestId: rid('dev'), device: { id: d.id, siteId: d.site, extension: d.extension ?? '', label: d.id, model: 'test', flexHost: d.flexHost ?? true, revision: '0' } }, ADMIN)
  }
  for (const u of spec.users) {
    await core.createUser({
      requestId: rid('user'),
      pin: u.pin,
      user: User.fromPartial({
        id: u.id, extension: u.extension, displayName: u.id.toUpperCase(), did: '', email: '', mobile: '', department: '',
        homeSiteId: u.site, roamingAllowed: u.roaming ?? true, maxSeatHours: u.maxSeatHours ?? 0, fallback: '', lockedUntil: undefined, revision: '0',
      }),
    }, ADMIN)
  }
}

/** Every key/value under `prefix` (for "no PIN anywhere" and invariant scans). */
export async function dump(etcd: Etcd3, prefix: string): Promise<Map<string, string>> {
  if (!prefix.endsWith('/')) throw new Error('prefixes end in "/"')
  // Every key under "p/" sorts before "p0" ('0' follows '/').
  const res = await etcd.kv.range({ key: Buffer.from(prefix), range_end: Buffer.from(`${prefix.slice(0, -1)}0`) })
  return new Map(res.kvs.map((kv) => [kv.key.toString('utf8'), kv.value.toString('utf8')]))
}

/** Expects `p` to reject with a RegistryError of `code` (and `field`, when given); returns it. */
export async function expectCode(t: { ok: Function; equal: Function; fail: Function }, p: Promise<unknown>, code: number, what: string, field?: string): Promise<RegistryError> {
  try {
    await p
  } catch (error) {
    t.ok(error instanceof RegistryError, `${what}: a RegistryError`)
    const e = error as RegistryError
    t.equal(e.code, code, `${what}: code ${code}`)
    if (field !== undefined) t.equal(e.facts.field, field, `${what}: names ${field}`)
    return e
  }
  t.fail(`${what}: expected error code ${code}, but it succeeded`)
  return new RegistryError(0, 'no error')
}

/** The current etcd revision. */
export async function revisionOf(etcd: Etcd3): Promise<bigint> {
  const res = await etcd.kv.range({ key: Buffer.from('\0'), count_only: true })
  return BigInt(res.header.revision)
}

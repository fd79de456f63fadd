import type { Etcd3, IKeyValue } from 'etcd3'
import { type BranchNode, ErrorCode, type ReportBindingsRequest } from '@flexseat/proto'
import type { Logger } from 'pino'
import { RegistryError, invalidArgument } from './errors'
import type { FencedWriter } from './fenced-writer'
import type { Keys } from './keys'
import { type Op, parseJson, prefixEnd } from './kv'
import type { BindingRecord, DeviceRecord, NodeLeaseRecord } from './records'
import * as v from './validate'

/** Bindings set or removed per call at most (each list). */
export const MAX_BINDINGS_PER_REPORT = 1_000
/**
 * What one phone of a report adds to a transaction at most: compares on its device and its
 * binding (read by the plan) and one write (beside the compare every part makes on the site's
 * lease key). A report is split by these counts and the records' sizes (txn-limits.ts).
 */
const PER_PHONE = { compares: 2, success: 1 }
/** What deleting one expired binding adds: a compare on it and the delete. */
const PER_EXPIRED = { compares: 1, success: 1 }
/** How far ahead of the registry's clock a binding may expire (RFC 3261 registrations last minutes to hours). */
export const MAX_BINDING_AHEAD_MS = 24 * 3_600_000
/** How often the leader looks for expired bindings, in ms; a scan runs only when one may have expired. */
export const BINDING_SWEEP_INTERVAL_MS = 1_000
/** The leader scans all bindings at least this often, in ms, whatever it believes the next expiry is. */
const RESCAN_MS = 60_000

const CONTACT = /^sips?:[^\s<>"]{1,507}$/i
const SOURCE = /^[A-Za-z]{2,5}:\S{1,116}:[0-9]{1,5}$/

/** Options of {@link PhoneBindings}. */
export interface PhoneBindingsOptions {
  etcd: Etcd3
  keys: Keys
  writer: FencedWriter
  /** The wall clock bindings expire by (the core's clock). */
  clock: () => number
  /** The branches' confirmation lease TTL in seconds: the retry hint of LEASE_HELD. */
  leaseSeconds: number
  logger: Logger
}

/** One validated change of a report: a binding to store, or a device whose binding goes. */
type Change = { deviceId: string; set: Omit<BindingRecord, 'registeredAt'> & { registeredAt?: string } } | { deviceId: string; set?: undefined }

/**
 * The phones registered at the branches (`bindings/<site>/<device>`): the registry side of the
 * Register flow, so the cluster knows which phones are online. The branch's SIP node holding the
 * site's confirmation lease reports them; the leader writes them in fenced transactions that
 * compare that lease key, deletes expired ones ({@link sweep}); any instance lists them.
 *
 * Leader only for {@link report} and {@link sweep}: the caller checks leadership first.
 */
export class PhoneBindings {
  readonly #o: PhoneBindingsOptions
  /**
   * The earliest expiry this leader knows of (from its last full scan and the bindings it wrote
   * since); -Infinity: unknown, scan. A sweep before it only costs nothing.
   */
  #earliest = Number.NEGATIVE_INFINITY
  #scannedAt = Number.NEGATIVE_INFINITY

  constructor(options: PhoneBindingsOptions) {
    this.#o = options
  }

  /**
   * Validates a ReportBindings request (INVALID_ARGUMENT naming the field; nothing read or
   * written). Returns the changes: bindings already expired by the registry's clock become removals.
   */
  validate(req: ReportBindingsRequest): Change[] {
    v.id(req.siteId, 'site_id')
    v.id(req.nodeId, 'node_id')
    if (req.bindings.length > MAX_BINDINGS_PER_REPORT) throw invalidArgument('bindings', `at most ${MAX_BINDINGS_PER_REPORT} per call`)
    if (req.removedDeviceIds.length > MAX_BINDINGS_PER_REPORT) throw invalidArgument('removed_device_ids', `at most ${MAX_BINDINGS_PER_REPORT} per call`)
    const now = this.#o.clock()
    const changes: Change[] = []
    const seen = new Set<string>()
    req.bindings.forEach((b, i) => {
      const f = `bindings[${i}]`
      v.id(b.deviceId, `${f}.device_id`)
      if (seen.has(b.deviceId)) throw invalidArgument(`${f}.device_id`, `device "${b.deviceId}" is listed twice`)
      seen.add(b.deviceId)
      if (b.siteId !== '' && b.siteId !== req.siteId) throw invalidArgument(`${f}.site_id`, `must be empty or the request's site_id "${req.siteId}"`)
      if (!CONTACT.test(b.contact)) throw invalidArgument(`${f}.contact`, 'must be a sip: or sips: URI without angle brackets, at most 512 characters')
      if (!SOURCE.test(b.source)) throw invalidArgument(`${f}.source`, 'must be transport:address:port, e.g. udp:192.0.2.10:5060, at most 128 characters')
      v.text(b.userAgent, `${f}.user_agent`)
      const expiresAt = timestamp(b.expiresAt, `${f}.expires_at`, true)!
      if (expiresAt.getTime() > now + MAX_BINDING_AHEAD_MS) throw invalidArgument(`${f}.expires_at`, 'must be at most 24 h ahead')
      const registeredAt = timestamp(b.registeredAt, `${f}.registered_at`, false)
      if (expiresAt.getTime() <= now) {
        changes.push({ deviceId: b.deviceId })
        return
      }
      changes.push({
        deviceId: b.deviceId,
        set: {
          deviceId: b.deviceId,
          siteId: req.siteId,
          contact: b.contact,
          source: b.source,
          userAgent: b.userAgent,
          expiresAt: expiresAt.toISOString(),
          ...(registeredAt === undefined ? {} : { registeredAt: registeredAt.toISOString() }),
          nodeId: req.nodeId,
        },
      })
    })
    req.removedDeviceIds.forEach((id, i) => {
      v.id(id, `removed_device_ids[${i}]`)
      if (seen.has(id)) throw invalidArgument(`removed_device_ids[${i}]`, `device "${id}" is also in bindings`)
      changes.push({ deviceId: id })
    })
    return changes
  }

  /**
   * Applies a validated report of `siteId` by `nodeId`, in as many fenced transactions as etcd's
   * limits need (txn-limits.ts), each phone's change in one of them. Every transaction compares
   * the site's lease key: LEASE_HELD when `nodeId` does not hold it (then, or by the time a later
   * part is written). Bindings of devices that do not exist or belong to another site are
   * skipped. Resolves to the skipped device ids.
   */
  async report(siteId: string, nodeId: string, changes: readonly Change[]): Promise<string[]> {
    const { keys } = this.#o
    const skipped: string[] = []
    // An empty report still asks whether the node holds the lease (it learns it must renew).
    const items: readonly (Change | undefined)[] = changes.length > 0 ? changes : [undefined]
    // Bytes: the record and, at most, its keys (the device's, the binding's twice).
    const perPhone = (change: Change | undefined) => ({ ...PER_PHONE, bytes: change?.set === undefined ? 512 : JSON.stringify(change.set).length + 512 })
    const outcomes = await this.#o.writer.applyInParts('report bindings', items, { perItem: perPhone, perPart: { compares: 1 } }, async (read, part) => {
      const batch = part.filter((c): c is Change => c !== undefined)
      const sets = batch.filter((c) => c.set !== undefined)
      await read.prefetch([keys.node(siteId), ...sets.flatMap((c) => [keys.device(c.deviceId), keys.binding(siteId, c.deviceId)])])
      const holder = await read.json<NodeLeaseRecord>(keys.node(siteId))
      if (holder?.value.nodeId !== nodeId) throw this.#notHolder(siteId, nodeId, holder !== undefined)
      const ops: Op[] = []
      const left: string[] = []
      let earliest = Number.POSITIVE_INFINITY
      for (const change of batch) {
        const key = keys.binding(siteId, change.deviceId)
        if (change.set === undefined) {
          ops.push({ type: 'delete', key })
          continue
        }
        const device = await read.json<DeviceRecord>(keys.device(change.deviceId))
        if (device?.value.siteId !== siteId) {
          left.push(change.deviceId)
          continue
        }
        const stored = await read.get(key)
        const before = stored ? parseJson<BindingRecord>(stored) : undefined
        const { registeredAt, nodeId: by, ...fields } = change.set
        // Fields in one order, so that a refresh that changes nothing is seen as such (no write).
        const record: BindingRecord = { ...fields, registeredAt: registeredAt ?? before?.registeredAt ?? new Date(this.#o.clock()).toISOString(), nodeId: by }
        earliest = Math.min(earliest, Date.parse(record.expiresAt))
        if (stored && stored.value.toString('utf8') === JSON.stringify(record)) continue
        ops.push({ type: 'put', key, value: record })
      }
      return { ops, outcome: { left, earliest } }
    })
    for (const outcome of outcomes) {
      skipped.push(...outcome.left)
      this.#earliest = Math.min(this.#earliest, outcome.earliest)
    }
    if (skipped.length > 0) this.#o.logger.info({ site: siteId, node: nodeId, devices: skipped.slice(0, 20), count: skipped.length }, 'bindings skipped: no such device at this site')
    return skipped
  }

  #notHolder(siteId: string, nodeId: string, heldByAnother: boolean): RegistryError {
    if (heldByAnother) {
      return new RegistryError(ErrorCode.ERROR_CODE_LEASE_HELD, `the confirmation lease of site "${siteId}" is held by another node; only its holder reports bindings`, {
        retryAfterMs: this.#o.leaseSeconds * 1_000,
      })
    }
    return new RegistryError(ErrorCode.ERROR_CODE_LEASE_HELD, `node "${nodeId}" does not hold the confirmation lease of site "${siteId}"; renew it first`)
  }

  /** A new leader knows nothing of the expiries yet: its first sweep scans. */
  resetSweep(): void {
    this.#earliest = Number.NEGATIVE_INFINITY
    this.#scannedAt = Number.NEGATIVE_INFINITY
  }

  /**
   * One sweep (leader only): deletes the bindings whose `expiresAt` has passed, each in a fenced
   * transaction that compares it (a refresh in between keeps it). Scans `bindings/` only when a
   * binding may have expired (by the earliest expiry known) or every minute.
   */
  async sweep(): Promise<void> {
    const { etcd, keys, clock, writer } = this.#o
    const now = clock()
    if (now < this.#earliest && now - this.#scannedAt < RESCAN_MS) return
    // Bindings written while the scan runs lower this again (report() notes them).
    this.#earliest = Number.POSITIVE_INFINITY
    try {
      const res = await etcd.kv.range({ key: Buffer.from(keys.bindings), range_end: prefixEnd(keys.bindings) })
      const expired: string[] = []
      let earliest = Number.POSITIVE_INFINITY
      for (const kv of res.kvs) {
        const at = expiryOf(kv)
        if (at <= now) expired.push(kv.key.toString('utf8'))
        else earliest = Math.min(earliest, at)
      }
      await writer.applyInParts('expire bindings', expired, { perItem: (key) => ({ ...PER_EXPIRED, bytes: 2 * key.length }) }, async (read, batch) => {
        await read.prefetch(batch)
        const ops: Op[] = []
        for (const key of batch) {
          const kv = await read.get(key)
          if (kv && expiryOf(kv) <= now) ops.push({ type: 'delete', key })
        }
        return { ops, outcome: undefined }
      })
      if (expired.length > 0) this.#o.logger.info({ count: expired.length, bindings: expired.slice(0, 20).map((k) => k.slice(keys.bindings.length)) }, 'expired phone bindings deleted')
      this.#earliest = Math.min(this.#earliest, earliest)
      this.#scannedAt = now
    } catch (error) {
      this.#earliest = Number.NEGATIVE_INFINITY
      throw error
    }
  }
}

function timestamp(value: Date | undefined, field: string, required: boolean): Date | undefined {
  if (value === undefined) {
    if (required) throw invalidArgument(field, 'is required')
    return undefined
  }
  if (Number.isNaN(value.getTime())) throw invalidArgument(field, 'is not a valid time')
  return value
}

/** When a stored binding expires, in ms since the epoch (0 for a record that cannot be read: it goes). */
function expiryOf(kv: IKeyValue): number {
  try {
    const at = Date.parse(parseJson<BindingRecord>(kv).expiresAt)
    return Number.isNaN(at) ? 0 : at
  } catch {
    return 0
  }
}

/** Whether a stored binding is still valid at `now`. */
export function bindingLive(kv: IKeyValue, now: number): boolean {
  return expiryOf(kv) > now
}

/**
 * The branches of the cluster status: one per site whose node holds a confirmation lease
 * (`nodes/<site>`) or that has bindings not expired at `now`, by site id.
 */
export function branchNodes(keys: Keys, nodes: readonly IKeyValue[], bindings: readonly IKeyValue[], now: number): BranchNode[] {
  const branches = new Map<string, BranchNode>()
  const of = (siteId: string): BranchNode => {
    let branch = branches.get(siteId)
    if (branch === undefined) branches.set(siteId, (branch = { siteId, nodeId: '', leaseHeld: false, grantedRevision: '0', onlinePhones: 0 }))
    return branch
  }
  for (const kv of nodes) {
    const branch = of(kv.key.toString('utf8').slice(keys.nodes.length))
    branch.nodeId = parseJson<NodeLeaseRecord>(kv).nodeId
    branch.leaseHeld = true
    branch.grantedRevision = kv.create_revision
  }
  for (const kv of bindings) {
    if (!bindingLive(kv, now)) continue
    const siteId = kv.key.toString('utf8').slice(keys.bindings.length).split('/')[0]
    if (siteId) of(siteId).onlinePhones += 1
  }
  return [...branches.values()].sort((a, b) => (a.siteId < b.siteId ? -1 : a.siteId > b.siteId ? 1 : 0))
}

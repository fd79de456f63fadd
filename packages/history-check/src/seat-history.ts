/**
 * The seat keys' history in etcd, as data: the state just before the run's first revision, then
 * every revision of the run that changed one of the keys the checkers read. Read from etcd by
 * {@link readSeatHistory}; built by hand in unit tests.
 *
 * Keys are relative to the registry's prefix, in the registry's layout (packages/registry,
 * keys.ts, class Keys): `seats/<user>` → SeatRecord JSON, `hosts/<device>` → user,
 * `revoking/<user>` → PendingRecord[] JSON, `revocations/<site>/<user>` → `{epoch}`,
 * `seats-released/<user>` → ReleaseRecord JSON, `requests/<id>` → the request's first outcome.
 */
import { Keys } from '@flexseat/registry'

/** The folders (relative key prefixes) the checkers read. */
export const FOLDERS = ['seats/', 'hosts/', 'revoking/', 'revocations/', 'seats-released/', 'requests/'] as const

/** One key's change at a revision: its new value, or null when it was deleted. */
export interface KeyChange {
  key: string
  value: string | null
}

/** Every change of one revision (one etcd transaction), in etcd's order. */
export interface RevisionChanges {
  revision: number
  changes: KeyChange[]
}

export interface SeatHistory {
  fromRevision: number
  toRevision: number
  /** Every key of {@link FOLDERS} at revision fromRevision − 1 (relative key → value). */
  initial: Map<string, string>
  /** The revisions from fromRevision to toRevision that changed a key of FOLDERS, ascending. */
  revisions: RevisionChanges[]
}

/** The parts of a SeatRecord (packages/registry, records.ts) the checkers use. */
export interface SeatValue {
  userId: string
  deviceId: string
  siteId: string
  pending?: { siteId: string; deviceId: string; epoch: string }[]
}

/** The parts of a ReleaseRecord the checkers use (reason: proto ReleaseReason). */
export interface ReleaseValue {
  reason: number
  epoch: string
}

/** Parses a JSON value of the history; undefined when it is not JSON. */
export function parseValue<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T
  } catch {
    return undefined
  }
}

/** The relative key layout, from the registry's own Keys (so the layout is written once). */
export const REL = new Keys('')

/** The key range just after `prefix` (etcd's prefix range end). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix)
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++
      return end.subarray(0, i + 1)
    }
  }
  return Buffer.from([0])
}

const inFolders = (rel: string): boolean => FOLDERS.some((f) => rel.startsWith(f))

/** What {@link readSeatHistory} needs of etcd: an etcd3 client (createEtcdClient). */
export interface HistorySource {
  etcd: import('etcd3').Etcd3
  prefix: string
  fromRevision: number
  toRevision: number
  /** Give up waiting for the watch after this long (default 60 s). */
  timeoutMs?: number
}

/** etcd compacted the history the replay needs. */
export class HistoryCompactedError extends Error {
  constructor(revision: number) {
    super(`etcd has compacted its history past revision ${revision}: the run cannot be replayed (keep etcd's history until the check, e.g. no --auto-compaction-retention during the run)`)
    this.name = 'HistoryCompactedError'
  }
}

/**
 * Reads the run's seat history from etcd: a range of each folder at fromRevision − 1, then a
 * watch from fromRevision until toRevision. The watch covers the WHOLE keyspace, not just the
 * prefix: every etcd revision changes at least one key, so the event at toRevision is certain to
 * come and marks the end (with the prefix alone, a run whose last revisions wrote other keys
 * would leave the reader unable to tell "done" from "not yet delivered"). etcd never splits one
 * revision across watch responses, so a revision's changes arrive together.
 */
export async function readSeatHistory(src: HistorySource): Promise<SeatHistory> {
  const { etcd, prefix, fromRevision, toRevision } = src
  const pre = Buffer.from(prefix)
  const initial = new Map<string, string>()
  if (fromRevision > 1) {
    for (const folder of FOLDERS) {
      const key = Buffer.concat([pre, Buffer.from(folder)])
      let res
      try {
        res = await etcd.kv.range({ key, range_end: prefixEnd(key), revision: String(fromRevision - 1) })
      } catch (error) {
        if ((error as Error).name === 'GRPCOutOfRangeError' || /compacted/.test((error as Error).message)) throw new HistoryCompactedError(fromRevision - 1)
        throw error
      }
      for (const kv of res.kvs) initial.set(kv.key.subarray(pre.length).toString('utf8'), kv.value.toString('utf8'))
    }
  }
  const revisions: RevisionChanges[] = []
  if (toRevision < fromRevision) return { fromRevision, toRevision, initial, revisions }
  const head = await etcd.kv.range({ key: pre, count_only: true })
  if (Number(head.header.revision) < toRevision) throw new Error(`etcd is at revision ${head.header.revision}, before the run's last revision ${toRevision}: wrong cluster?`)
  const watcher = await etcd
    .watch()
    .inRange({ start: Buffer.from([0]), end: Buffer.from([0]) })
    .startRevision(String(fromRevision))
    .create()
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`etcd's watch did not reach revision ${toRevision} within ${src.timeoutMs ?? 60_000} ms`)), src.timeoutMs ?? 60_000)
      timer.unref()
      let finished = false
      const done = (error?: Error) => {
        if (finished) return
        finished = true
        clearTimeout(timer)
        if (error) reject(error)
        else resolve()
      }
      watcher.on('error', (error) => done(/compacted/i.test(error.message) ? new HistoryCompactedError(fromRevision) : error))
      watcher.on('data', (res) => {
        if (res.compact_revision !== undefined && Number(res.compact_revision) > 0) return done(new HistoryCompactedError(Number(res.compact_revision)))
        for (const event of res.events) {
          const revision = Number(event.kv.mod_revision)
          if (revision > toRevision) return done()
          const key = event.kv.key
          if (key.length < pre.length || !key.subarray(0, pre.length).equals(pre)) continue
          const rel = key.subarray(pre.length).toString('utf8')
          if (!inFolders(rel)) continue
          const last = revisions[revisions.length - 1]
          const change: KeyChange = { key: rel, value: event.type === 'Delete' ? null : event.kv.value.toString('utf8') }
          if (last && last.revision === revision) last.changes.push(change)
          else revisions.push({ revision, changes: [change] })
        }
        const lastEvent = res.events[res.events.length - 1]
        if (lastEvent && Number(lastEvent.kv.mod_revision) >= toRevision) done()
      })
    })
  } finally {
    await watcher.cancel().catch(() => undefined)
  }
  return { fromRevision, toRevision, initial, revisions }
}

/** The state of FOLDERS' keys, changed revision by revision (a replay). */
export class KeyState {
  readonly values: Map<string, string>
  constructor(initial: Map<string, string>) {
    this.values = new Map(initial)
  }
  apply(changes: readonly KeyChange[]): void {
    for (const c of changes) {
      if (c.value === null) this.values.delete(c.key)
      else this.values.set(c.key, c.value)
    }
  }
}

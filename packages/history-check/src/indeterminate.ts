/**
 * Indeterminate writes settled by etcd's history. A gRPC write's op id is its registry request id,
 * and the registry writes `requests/<id>` with the first outcome in the same transaction as the
 * write (packages/registry, idempotency.ts): a record with an `error` took no effect, a record with
 * a response took effect, and no record by the end of the run means the write never committed
 * during the run (one committing later would follow every operation of the history, which is the
 * same as never). Settling them shrinks the linearizability search: an indeterminate write may
 * take effect at any later instant, which multiplies the orders to try.
 *
 * A `*51` at a phone writes under ids the SIP node derives from the INVITE: the runner records
 * them as the operation's `requestIds`, and they settle it the same way (a record under any of
 * them decides; none means the node never wrote).
 *
 * Only used when the run's ids are request ids: `auto` decides so when some acknowledged gRPC
 * write of the run has its record in the history (a run in which no gRPC write succeeded cannot
 * tell: the chaos runner, which knows, says `yes`).
 */
import { CommitBound } from './acknowledged'
import type { Operation, WatchEvent } from './history'
import { parseValue, REL, type SeatHistory, type SeatValue } from './seat-history'

export type RequestIdMode = 'auto' | 'yes' | 'no'

/** The request records of the run: id → whether the first outcome was an error. */
export function requestOutcomes(history: SeatHistory): Map<string, 'error' | 'ok'> {
  const out = new Map<string, 'error' | 'ok'>()
  const prefix = REL.request('')
  for (const { changes } of history.revisions) {
    for (const c of changes) {
      if (c.value === null || !c.key.startsWith(prefix)) continue
      const id = c.key.slice(prefix.length)
      if (out.has(id)) continue
      const record = parseValue<{ error?: unknown }>(c.value)
      out.set(id, record !== undefined && record.error !== undefined ? 'error' : 'ok')
    }
  }
  return out
}

/** A seat key's change: who, at which revision, the desk it was at before and is at after. */
interface SeatChange { revision: number; userId: string; before: string | null; after: string | null }

function seatChanges(history: SeatHistory): SeatChange[] {
  const desk = new Map<string, string>()
  for (const [k, v] of history.initial) if (k.startsWith(REL.seats)) desk.set(k.slice(REL.seats.length), parseValue<SeatValue>(v)?.deviceId ?? '')
  const out: SeatChange[] = []
  for (const { revision, changes } of history.revisions) {
    for (const c of changes) {
      if (!c.key.startsWith(REL.seats)) continue
      const userId = c.key.slice(REL.seats.length)
      const after = c.value === null ? null : (parseValue<SeatValue>(c.value)?.deviceId ?? '')
      out.push({ revision, userId, before: desk.get(userId) ?? null, after })
      if (after === null) desk.delete(userId)
      else desk.set(userId, after)
    }
  }
  return out
}

/**
 * The operations with indeterminate writes settled as `fail` where etcd shows they took no effect:
 *
 * - a write whose request ids are known (a gRPC write's id, a `*51`'s `requestIds`) by its request
 *   record (above): refused, or never committed;
 * - any write (a `*51` at a phone too, whose request id the SIP node makes) when etcd holds no
 *   change it could have made, at a revision not known to precede its call (watchers date
 *   revisions: CommitBound) and not the recorded revision of another operation of the history:
 *   a login of u at d puts `seats/u` at d; a logout of u that unseats u deletes `seats/u`; a
 *   logout at desk d that unseats someone deletes a seat at d. A logout with no such change either
 *   did not happen or found nobody to unseat, which the model cannot tell apart: no effect.
 *
 * `tookEffect`: those whose request record holds a response, which took effect for certain. For
 * those left indeterminate, `effectBy` gives the latest instant they can have taken effect,
 * where the watchers dated every revision they could have made (the latest of those revisions'
 * bounds): the linearizability search then may drop them at that instant instead of carrying them
 * to the end of the history. Returns how many were settled.
 */
export function settleIndeterminate(
  ops: readonly Operation[],
  history: SeatHistory,
  mode: RequestIdMode = 'auto',
  watch: readonly WatchEvent[] = [],
): { ops: Operation[]; settled: number; effectBy: Map<string, number>; tookEffect: Set<string> } {
  const outcomes = requestOutcomes(history)
  const grpcWrite = (op: Operation) => op.via === 'grpc' && op.kind !== 'read'
  const byRequest = mode === 'yes' || (mode === 'auto' && ops.some((op) => grpcWrite(op) && op.outcome === 'ok' && outcomes.has(op.id)))
  /** The request ids an operation may have written under: its id (gRPC) or those it names. */
  const requestIdsOf = (op: Operation): readonly string[] => op.requestIds ?? (grpcWrite(op) ? [op.id] : [])
  // Revisions that are another operation's own (its request record was written there).
  const opOfRequest = new Map<string, string>()
  for (const op of ops) for (const id of requestIdsOf(op)) opOfRequest.set(id, op.id)
  const owned = new Map<number, string>()
  const revisionOf = new Map<string, number>()
  if (byRequest) {
    const prefix = REL.request('')
    for (const { revision, changes } of history.revisions) {
      for (const c of changes) {
        const opId = c.value === null || !c.key.startsWith(prefix) ? undefined : opOfRequest.get(c.key.slice(prefix.length))
        if (opId === undefined) continue
        owned.set(revision, opId)
        if (!revisionOf.has(opId)) revisionOf.set(opId, revision)
      }
    }
  }
  const effectBy = new Map<string, number>()
  const tookEffect = new Set<string>()
  const changes = seatChanges(history)
  const bound = new CommitBound(watch)
  let settled = 0
  const out = ops.map((op) => {
    if (op.kind === 'read' || !(op.outcome === 'info' || op.completeMs === null)) return op
    let why: string | undefined
    const requestIds = requestIdsOf(op)
    if (byRequest && requestIds.length > 0) {
      const recorded = requestIds.map((id) => outcomes.get(id))
      const outcome = recorded.includes('ok') ? 'ok' : recorded.find((o) => o !== undefined)
      if (outcome === 'ok') {
        tookEffect.add(op.id)
        const by = bound.by(revisionOf.get(op.id)!)
        if (Number.isFinite(by)) effectBy.set(op.id, by)
        return op
      }
      why = outcome === 'error' ? 'refused' : 'never committed'
    } else {
      const could = changes.filter((c) => {
        if (bound.by(c.revision) < op.invokeMs) return false
        const other = owned.get(c.revision)
        if (other !== undefined && other !== op.id) return false
        if (op.kind === 'login') return c.userId === op.userId && c.after === op.deviceId
        if (op.deviceId !== '') return c.after === null && c.before === op.deviceId
        return c.userId === op.userId && c.after === null
      })
      if (could.length > 0) {
        // If it took effect, it was at one of these revisions, each committed by its bound.
        const by = Math.max(...could.map((c) => bound.by(c.revision)))
        if (Number.isFinite(by)) effectBy.set(op.id, by)
        return op
      }
      why = 'no change it could have made'
    }
    settled++
    return { ...op, outcome: 'fail' as const, error: `${op.error ?? 'indeterminate'}; settled by etcd: ${why}` }
  })
  return { ops: out, settled, effectBy, tookEffect }
}

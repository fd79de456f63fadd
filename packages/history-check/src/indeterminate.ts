/**
 * Indeterminate writes settled by etcd's history. A gRPC write's op id is its registry request id,
 * and the registry writes `requests/<id>` with the first outcome in the same transaction as the
 * write (packages/registry, idempotency.ts): a record with an `error` took no effect, a record with
 * a response took effect, and no record by the end of the run means the write never committed
 * during the run (one committing later would follow every operation of the history, which is the
 * same as never). Settling them shrinks the linearizability search: an indeterminate write may
 * take effect at any later instant, which multiplies the orders to try.
 *
 * Only used when the run's ids are request ids: `auto` decides so when some acknowledged gRPC
 * write of the run has its record in the history.
 */
import type { Operation } from './history'
import { parseValue, REL, type SeatHistory } from './seat-history'

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

/**
 * The operations with indeterminate gRPC writes settled: `fail` when etcd shows they took no
 * effect; the others unchanged. Returns how many were settled.
 */
export function settleIndeterminate(ops: readonly Operation[], history: SeatHistory, mode: RequestIdMode = 'auto'): { ops: Operation[]; settled: number } {
  if (mode === 'no') return { ops: [...ops], settled: 0 }
  const outcomes = requestOutcomes(history)
  const writes = (op: Operation) => op.via === 'grpc' && op.kind !== 'read'
  if (mode === 'auto' && !ops.some((op) => writes(op) && op.outcome === 'ok' && outcomes.has(op.id))) return { ops: [...ops], settled: 0 }
  let settled = 0
  const out = ops.map((op) => {
    if (!writes(op) || !(op.outcome === 'info' || op.completeMs === null)) return op
    const outcome = outcomes.get(op.id)
    if (outcome === 'ok') return op
    settled++
    return { ...op, outcome: 'fail' as const, error: `${op.error ?? 'indeterminate'}; settled by etcd: ${outcome === 'error' ? 'refused' : 'never committed'}` }
  })
  return { ops: out, settled }
}

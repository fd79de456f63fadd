import { metrics, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'

// Instruments of the OpenTelemetry meter `@flexseat/registry` beside the PIN and sign-in ones
// (pin-events.ts, sign-in-events.ts); no-ops unless the process exports metrics.
const meter = metrics.getMeter('@flexseat/registry')

const txnDuration = meter.createHistogram('flexseat.etcd.txn.duration', {
  description: 'Fenced etcd transactions of the leader, from sending to etcd\'s answer, by write and outcome',
  unit: 's',
  advice: { explicitBucketBoundaries: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] },
})
const leaderChanges = meter.createCounter('flexseat.leader.changes', {
  description: 'This instance became the leader (flexseat.change elected) or stopped being it (lost)',
  unit: '{change}',
})

/**
 * Runs one fenced etcd transaction (`send`) and records its duration in
 * `flexseat.etcd.txn.duration` (histogram, s), by `flexseat.txn` (the write: `login`,
 * `completeRevocations`, ...) and `flexseat.outcome` (`committed`, `conflict`: a compare
 * failed, `error`: etcd did not answer), in a span `etcd.txn` with the same attributes.
 */
export async function timedTxn<T extends { succeeded: boolean }>(what: string, send: () => Promise<T>): Promise<T> {
  // A span per transaction (`etcd.txn`), a child of the write's (a Login's) when one is active.
  return trace.getTracer('@flexseat/registry').startActiveSpan('etcd.txn', { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'etcd', 'flexseat.txn': what } }, async (span) => {
    const started = performance.now()
    let outcome = 'error'
    try {
      const res = await send()
      outcome = res.succeeded ? 'committed' : 'conflict'
      return res
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message })
      throw error
    } finally {
      txnDuration.record((performance.now() - started) / 1_000, { 'flexseat.txn': what, 'flexseat.outcome': outcome })
      span.setAttribute('flexseat.outcome', outcome)
      span.end()
    }
  })
}

/** Counts a leadership change of this instance in `flexseat.leader.changes` (by `flexseat.change`). */
export function countLeaderChange(change: 'elected' | 'lost', siteId: string): void {
  leaderChanges.add(1, { 'flexseat.change': change, 'flexseat.site': siteId })
}

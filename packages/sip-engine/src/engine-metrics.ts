import { metrics } from '@opentelemetry/api';

// Instruments of the OpenTelemetry meter `@flexseat/sip-engine` (no-ops unless the process
// exports metrics: FLEXSEAT_METRICS_LISTEN or OTEL_METRICS_EXPORTER).
const meter = metrics.getMeter('@flexseat/sip-engine');
const started = meter.createCounter('flexseat.engine.transactions.started', { description: 'SIP transactions started, by flexseat.kind (server, client)', unit: '{transaction}' });

/** Counts a new transaction in `flexseat.engine.transactions.started` (counter, by `flexseat.kind`). */
export function countTransaction(kind: 'server' | 'client'): void {
  started.add(1, { 'flexseat.kind': kind });
}

/**
 * Reports an engine's live state whenever the metrics are read: `flexseat.engine.transactions`
 * (gauge, by `flexseat.kind`: server, client, completed — kept for retransmissions) and
 * `flexseat.engine.dialogs` (gauge).
 */
export function observeEngine(engine: { readonly stats: { serverTransactions: number; clientTransactions: number; dialogs: number; completedTransactions: number } }): void {
  meter.createObservableGauge('flexseat.engine.transactions', { description: 'Live SIP transactions of the engine', unit: '{transaction}' }).addCallback((result) => {
    const stats = engine.stats;
    result.observe(stats.serverTransactions, { 'flexseat.kind': 'server' });
    result.observe(stats.clientTransactions, { 'flexseat.kind': 'client' });
    result.observe(stats.completedTransactions, { 'flexseat.kind': 'completed' });
  });
  meter.createObservableGauge('flexseat.engine.dialogs', { description: 'Dialogs the engine keeps', unit: '{dialog}' }).addCallback((result) => result.observe(engine.stats.dialogs));
}

/**
 * Every flexseat metric as Prometheus scrapes it (OpenTelemetry's Prometheus exporter: dots
 * become underscores, counters end in `_total`, a histogram is its `_bucket`, `_sum` and
 * `_count` series), the service that serves it and its labels (besides the exporter's own
 * `otel_scope_*` and `le`). The instruments themselves live with their services; this list is
 * what the operator's tools may rely on: `test/integration/metrics-scrape.test.ts` scrapes running
 * services and checks that every name here is served with these labels and nothing else
 * `flexseat_*` is, and `test/unit/grafana-dashboard.test.ts` checks that the Grafana dashboard
 * queries only these names and labels. docs/OPERATIONS.md ("Metrics") describes each. A metric
 * marked `lazy` is a counter of something that only happens under attack: it is served from the
 * first time it is counted, so a scrape of ordinary traffic does not show it.
 */
export const METRIC_CATALOGUE = {
  flexseat_sign_ins_total: { type: 'counter', service: 'registry', labels: ['flexseat_outcome', 'flexseat_via', 'flexseat_site'] },
  flexseat_pin_failures_total: { type: 'counter', service: 'registry', labels: ['flexseat_site'] },
  flexseat_pin_lockouts_total: { type: 'counter', service: 'registry', labels: ['flexseat_site', 'flexseat_pin_scope'] },
  flexseat_pin_refused_total: { type: 'counter', service: 'registry', labels: ['flexseat_site', 'flexseat_pin_reason'] },
  flexseat_etcd_txn_duration: { type: 'histogram', service: 'registry', labels: ['flexseat_txn', 'flexseat_outcome'] },
  flexseat_registry_login_batch_size: { type: 'histogram', service: 'registry', labels: [] },
  flexseat_leader_changes_total: { type: 'counter', service: 'registry', labels: ['flexseat_change', 'flexseat_site'] },
  flexseat_revocation_duration: { type: 'histogram', service: 'sip-node', labels: ['flexseat_site', 'flexseat_stage'] },
  flexseat_confirmation_lease_active: { type: 'gauge', service: 'sip-node', labels: ['flexseat_site'] },
  flexseat_phones_registered: { type: 'gauge', service: 'sip-node', labels: ['flexseat_site'] },
  flexseat_registrations_total: { type: 'counter', service: 'sip-node', labels: ['flexseat_site', 'flexseat_outcome'] },
  flexseat_sip_auth_bans_total: { type: 'counter', service: 'sip-node', labels: ['flexseat_site'], lazy: true },
  flexseat_sip_auth_delayed_total: { type: 'counter', service: 'sip-node', labels: ['flexseat_site'], lazy: true },
  flexseat_sip_auth_banned_sources: { type: 'gauge', service: 'sip-node', labels: ['flexseat_site'] },
  flexseat_calls_routed_total: { type: 'counter', service: 'sip-node', labels: ['flexseat_site', 'flexseat_target', 'flexseat_source'] },
  flexseat_engine_transactions_started_total: { type: 'counter', service: 'sip-engine', labels: ['flexseat_kind'] },
  flexseat_engine_transactions: { type: 'gauge', service: 'sip-engine', labels: ['flexseat_kind'] },
  flexseat_engine_dialogs: { type: 'gauge', service: 'sip-engine', labels: [] },
  flexseat_process_memory: { type: 'gauge', service: 'every', labels: ['flexseat_memory_kind'] },
} as const satisfies Record<string, { type: 'counter' | 'gauge' | 'histogram'; service: 'registry' | 'sip-node' | 'sip-engine' | 'every'; labels: readonly string[]; lazy?: true }>

/** A metric's name as scraped (see {@link METRIC_CATALOGUE}). */
export type MetricName = keyof typeof METRIC_CATALOGUE

/**
 * The catalogued metric a scraped series name belongs to (`flexseat_revocation_duration_bucket`
 * → `flexseat_revocation_duration`), or undefined.
 */
export function catalogued(series: string): MetricName | undefined {
  if (series in METRIC_CATALOGUE) return series as MetricName
  const base = series.replace(/_(bucket|sum|count)$/, '')
  return base !== series && base in METRIC_CATALOGUE && METRIC_CATALOGUE[base as MetricName].type === 'histogram' ? (base as MetricName) : undefined
}

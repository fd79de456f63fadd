import { type Counter, type Histogram, type Meter, metrics } from '@opentelemetry/api'

/**
 * The SIP node's instruments, on the OpenTelemetry meter `@flexseat/sip-node` (no-ops unless
 * the process exports metrics: FLEXSEAT_METRICS_LISTEN or OTEL_METRICS_EXPORTER). Every one
 * carries `flexseat.site`, the node's branch.
 *
 * - `flexseat.revocation.duration` (histogram, s): from the registry committing a move away from
 *   this branch (the pending entry's `since`) to this node having applied it (`flexseat.stage`
 *   `applied`: no more ringing or identity, acknowledgement sent) and to the old phone having been
 *   told (`told`: the MESSAGE answered or failed);
 * - `flexseat.confirmation_lease.active` (gauge, 1 or 0): whether this node holds the branch's lease;
 * - `flexseat.phones.registered` (gauge): phones with a live registration here;
 * - `flexseat.registrations` (counter): REGISTERs answered, by `flexseat.outcome` (`ok`: a 2xx,
 *   a refresh or removal included; `challenged`: 401, the digest challenge every first REGISTER
 *   gets; `refused`: any other final response, e.g. 403 for a wrong password);
 * - `flexseat.calls.routed` (counter): calls routed, by `flexseat.target` (the router's target:
 *   `phone`, `seat`, `trunk`, `carrier`, `fallback`, ...; `ring-both` for a call that rings the
 *   seated desk and the home device at once; `refused` for a call answered with an error) and `flexseat.source` (`phone`, `trunk`).
 * - `flexseat.sip.auth.bans` (counter): sources banned for authentication failures (auth-guard.ts);
 * - `flexseat.sip.auth.delayed` (counter): answers held back from a guessing source or account;
 * - `flexseat.sip.auth.banned_sources` (gauge): sources banned now;
 */
export class NodeMetrics {
  readonly #site: { 'flexseat.site': string }
  readonly #meter: Meter
  readonly #revocation: Histogram
  readonly #calls: Counter
  readonly #registrations: Counter
  readonly #bans: Counter
  readonly #delayed: Counter

  constructor(siteId: string, meter: Meter = metrics.getMeter('@flexseat/sip-node')) {
    this.#site = { 'flexseat.site': siteId }
    this.#meter = meter
    this.#revocation = meter.createHistogram('flexseat.revocation.duration', {
      description: 'Revocation latency at the old branch: registry commit of the move to applied here, and to the old phone told',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] },
    })
    this.#calls = meter.createCounter('flexseat.calls.routed', { description: 'Calls routed by this SIP node, by target', unit: '{call}' })
    this.#registrations = meter.createCounter('flexseat.registrations', { description: 'REGISTERs answered by this SIP node, by outcome', unit: '{request}' })
    this.#bans = meter.createCounter('flexseat.sip.auth.bans', { description: 'Sources banned for SIP authentication failures', unit: '{source}' })
    this.#delayed = meter.createCounter('flexseat.sip.auth.delayed', { description: 'Answers held back from a source or account guessing passwords', unit: '{answer}' })
  }

  /** Counts a REGISTER answered with `status`. */
  registration(status: number): void {
    const outcome = status >= 200 && status < 300 ? 'ok' : status === 401 || status === 407 ? 'challenged' : 'refused'
    this.#registrations.add(1, { ...this.#site, 'flexseat.outcome': outcome })
  }

  authBan(): void {
    this.#bans.add(1, this.#site)
  }

  authDelayed(): void {
    this.#delayed.add(1, this.#site)
  }

  /** Reports the sources banned now whenever the metrics are read. */
  observeBans(bannedSources: () => number): void {
    const gauge = this.#meter.createObservableGauge('flexseat.sip.auth.banned_sources', { description: 'Sources banned now for SIP authentication failures', unit: '{source}' })
    gauge.addCallback((result) => result.observe(bannedSources(), this.#site))
  }

  revocation(stage: 'applied' | 'told', ms: number): void {
    this.#revocation.record(ms / 1_000, { ...this.#site, 'flexseat.stage': stage })
  }

  callRouted(target: string, source: 'phone' | 'trunk'): void {
    this.#calls.add(1, { ...this.#site, 'flexseat.target': target, 'flexseat.source': source })
  }

  /** Reports the lease state and the registrations whenever the metrics are read. */
  observe(state: { leaseActive(): boolean; phonesRegistered(): number }): void {
    const lease = this.#meter.createObservableGauge('flexseat.confirmation_lease.active', { description: 'Whether this SIP node holds its branch\'s confirmation lease (1) or not (0)' })
    lease.addCallback((result) => result.observe(state.leaseActive() ? 1 : 0, this.#site))
    const phones = this.#meter.createObservableGauge('flexseat.phones.registered', { description: 'Phones registered at this SIP node', unit: '{phone}' })
    phones.addCallback((result) => result.observe(state.phonesRegistered(), this.#site))
  }
}

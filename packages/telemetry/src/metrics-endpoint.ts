import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { metrics } from '@opentelemetry/api'
import { parseMetricsListen } from './metrics-listen'

/** A Prometheus scrape endpoint: `GET /metrics` at `address`. */
export interface MetricsEndpoint {
  /** `host:port` it listens on (the real port when 0 was asked for); rejects when it cannot listen. */
  address: Promise<string>
  /** The reader to give an SDK that runs beside it (NodeSDK's `metricReaders`). */
  reader: import('@opentelemetry/sdk-metrics').MetricReader
  /** Stops serving and flushes. */
  stop(): Promise<void>
}

/**
 * Serves the process's OpenTelemetry metrics in the Prometheus text format at
 * `http://<host>:<port>/metrics`, through OTel's own Prometheus exporter (its request handler on
 * a server of ours, so that port 0 works and the bound address is known). The exporter is the
 * reader of a MeterProvider registered as the global one, unless `register` is false (an SDK
 * then takes {@link MetricsEndpoint.reader}). The provider is registered before this returns:
 * OpenTelemetry's metrics API has no proxy, so instruments created earlier would stay no-ops.
 */
export function startMetricsEndpoint(listen: string, serviceName: string, register: boolean): MetricsEndpoint {
  const { host, port } = parseMetricsListen(listen)
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { PrometheusExporter } = require('@opentelemetry/exporter-prometheus') as typeof import('@opentelemetry/exporter-prometheus')
  const { MeterProvider } = require('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics')
  const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources')
  /* eslint-enable @typescript-eslint/no-require-imports */
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true })
  let provider: InstanceType<typeof MeterProvider> | undefined
  if (register) {
    provider = new MeterProvider({ readers: [exporter], resource: resourceFromAttributes({ 'service.name': serviceName }) })
    metrics.setGlobalMeterProvider(provider)
  }
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      exporter.getMetricsRequestHandler(req, res)
      return
    }
    res.statusCode = 404
    res.end('not found: metrics are at /metrics\n')
  })
  const address = new Promise<string>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      const bound = server.address() as AddressInfo
      resolve(`${bound.address}:${bound.port}`)
    })
  })
  // Not a reason to keep the process alive, nor to crash it: the caller logs a failure.
  address.catch(() => {})
  server.unref()
  return {
    address,
    reader: exporter,
    async stop() {
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()))
      await (provider?.shutdown() ?? exporter.shutdown()).catch(() => {})
    },
  }
}

/**
 * Process metrics every service exports (meter `@flexseat/process`): `flexseat.process.memory`
 * (gauge, bytes) by `flexseat.memory.kind` (rss, heap_used, heap_total, external).
 */
export function observeProcessMemory(): void {
  const meter = metrics.getMeter('@flexseat/process')
  const memory = meter.createObservableGauge('flexseat.process.memory', { description: 'Memory of the process (process.memoryUsage())', unit: 'By' })
  memory.addCallback((result) => {
    const usage = process.memoryUsage()
    result.observe(usage.rss, { 'flexseat.memory.kind': 'rss' })
    result.observe(usage.heapUsed, { 'flexseat.memory.kind': 'heap_used' })
    result.observe(usage.heapTotal, { 'flexseat.memory.kind': 'heap_total' })
    result.observe(usage.external, { 'flexseat.memory.kind': 'external' })
  })
}

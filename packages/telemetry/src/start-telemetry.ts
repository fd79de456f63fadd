import type { MetricsEndpoint } from './metrics-endpoint'

/** Flushes and stops telemetry; resolves within `timeoutMs` (default 2 000) whatever happens. */
export type StopTelemetry = (timeoutMs?: number) => Promise<void>

/**
 * What {@link startTelemetry} returns: the function that stops it, and where the Prometheus
 * metrics are served (`host:port`; undefined without `FLEXSEAT_METRICS_LISTEN`; rejects when the
 * port cannot be bound), for the service to log once its logger exists.
 */
export type Telemetry = StopTelemetry & { metricsAddress: Promise<string | undefined> }

const SIGNALS = ['OTEL_TRACES_EXPORTER', 'OTEL_METRICS_EXPORTER', 'OTEL_LOGS_EXPORTER'] as const

/**
 * Starts OpenTelemetry (the Node SDK) for a service, configured only by the standard `OTEL_*`
 * environment variables. Unlike the SDK's own defaults, nothing is exported unless configured:
 * each of `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER`, `OTEL_LOGS_EXPORTER` defaults to
 * `none`, and when all three are `none` (or `OTEL_SDK_DISABLED=true`) the SDK is not even
 * loaded. `OTEL_SERVICE_NAME` defaults to `serviceName`.
 *
 * When something is exported, gRPC (`@grpc/grpc-js`, client and server) is instrumented, so every
 * registry call and every forwarded write is a span; without instrumentations the SDK would
 * record nothing at all.
 *
 * Resource attributes come from the environment (`OTEL_RESOURCE_ATTRIBUTES`), the host and the
 * process, but never the command line (it may carry a secret); `OTEL_NODE_RESOURCE_DETECTORS` is
 * therefore not honoured.
 *
 * Side effect: the defaults above (`none` for each unset exporter variable, and
 * `OTEL_SERVICE_NAME`) are WRITTEN INTO `env` (default `process.env`), because the SDK and its
 * exporters read `process.env` themselves, later and in several places; setting them there is
 * the only way to make "nothing unless configured" hold for all of them.
 *
 * Prometheus: with `FLEXSEAT_METRICS_LISTEN=host:port` (port 0: any free one) the service serves
 * its metrics at `http://host:port/metrics` (OpenTelemetry's Prometheus exporter on the same
 * meters, metrics-endpoint.ts), whether or not anything else is exported; the process' memory
 * is among them. A value that is not host:port makes `metricsAddress` reject (the service logs it).
 *
 * Tests and debugging only: `FLEXSEAT_TEST_SPAN_FILE=<path>` runs the SDK and appends every
 * finished span to that file as a JSON line (span-file.ts), instead of exporting traces.
 *
 * Call it first in a service's `main.ts`, before importing (requiring) the modules it should
 * observe: instrumentation patches `@grpc/grpc-js` as it is loaded, and instruments created
 * before the meter provider is registered stay no-ops.
 */
export function startTelemetry(serviceName: string, env: NodeJS.ProcessEnv = process.env): Telemetry {
  for (const name of SIGNALS) {
    if (env[name] === undefined || env[name]?.trim() === '') env[name] = 'none'
  }
  env['OTEL_SERVICE_NAME'] ??= serviceName
  const disabled = env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true'
  const anything = SIGNALS.some((name) => env[name]!.split(',').some((value) => value.trim() !== 'none'))
  const listen = env['FLEXSEAT_METRICS_LISTEN']?.trim()
  const spanFile = env['FLEXSEAT_TEST_SPAN_FILE']?.trim() || undefined
  const sdkRuns = !disabled && (anything || spanFile !== undefined)
  let endpoint: MetricsEndpoint | undefined
  let metricsAddress: Promise<string | undefined> = Promise.resolve(undefined)
  if (listen !== undefined && listen !== '') {
    // Loaded only when metrics are served: without them no OpenTelemetry module is loaded at all.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { observeProcessMemory, startMetricsEndpoint } = require('./metrics-endpoint') as typeof import('./metrics-endpoint')
    try {
      endpoint = startMetricsEndpoint(listen, env['OTEL_SERVICE_NAME'] ?? serviceName, !sdkRuns)
      metricsAddress = endpoint.address
      // With the SDK, its meter provider (registered in sdk.start() below) reads through the endpoint.
      if (!sdkRuns) observeProcessMemory()
    } catch (error) {
      // A bad value: the service logs it (it has no logger yet) and runs without metrics.
      metricsAddress = Promise.reject(error)
      metricsAddress.catch(() => {})
    }
  }
  if (!sdkRuns) {
    return Object.assign(async () => {
      await endpoint?.stop()
    }, { metricsAddress })
  }

  // Loaded only when something is exported: the SDK is large and slows every start otherwise.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { NodeSDK, resources } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node')
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { GrpcInstrumentation } = require('@opentelemetry/instrumentation-grpc') as typeof import('@opentelemetry/instrumentation-grpc')
  // The SDK's process detector records the whole command line on every span's resource; a
  // service may take a secret there (the SIP engine's drachtio-compatible `--secret`), and no
  // secret may reach a trace. Same detectors as the SDK's default, without the command line.
  const processWithoutCommandLine: import('@opentelemetry/sdk-node').resources.ResourceDetector = {
    detect(config) {
      const attributes = { ...resources.processDetector.detect(config).attributes }
      for (const name of ['process.command', 'process.command_args', 'process.command_line']) delete attributes[name]
      return { attributes }
    },
  }
  // Test/debug only: every finished span is appended to the file, in place of any exporter of
  // OTEL_TRACES_EXPORTER (span-file.ts).
  let spanProcessors: import('@opentelemetry/sdk-node').tracing.SpanProcessor[] | undefined
  if (spanFile !== undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { SpanFileExporter } = require('./span-file') as typeof import('./span-file')
    const { tracing } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node') // eslint-disable-line @typescript-eslint/no-require-imports
    spanProcessors = [new tracing.SimpleSpanProcessor(new SpanFileExporter(spanFile))]
  }
  const sdk = new NodeSDK({
    instrumentations: [new GrpcInstrumentation()],
    ...(spanProcessors === undefined ? {} : { spanProcessors }),
    resourceDetectors: [resources.envDetector, processWithoutCommandLine, resources.hostDetector],
    ...(endpoint === undefined ? {} : { metricReaders: [endpoint.reader] }),
  })
  sdk.start()
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (endpoint !== undefined) (require('./metrics-endpoint') as typeof import('./metrics-endpoint')).observeProcessMemory()
  let stopping: Promise<void> | undefined
  const stop = (timeoutMs = 2_000): Promise<void> => {
    stopping ??= new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      timer.unref()
      Promise.all([sdk.shutdown(), endpoint?.stop()]).then(
        () => resolve(),
        () => resolve(),
      ).finally(() => clearTimeout(timer))
    })
    return stopping
  }
  return Object.assign(stop, { metricsAddress })
}

/** Flushes and stops telemetry; resolves within `timeoutMs` (default 2 000) whatever happens. */
export type StopTelemetry = (timeoutMs?: number) => Promise<void>

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
 * Call it first in a service's `main.ts`, before importing (requiring) the modules it should
 * observe: instrumentation patches `@grpc/grpc-js` as it is loaded.
 */
export function startTelemetry(serviceName: string, env: NodeJS.ProcessEnv = process.env): StopTelemetry {
  for (const name of SIGNALS) {
    if (env[name] === undefined || env[name]?.trim() === '') env[name] = 'none'
  }
  env['OTEL_SERVICE_NAME'] ??= serviceName
  const disabled = env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true'
  const anything = SIGNALS.some((name) => env[name]!.split(',').some((value) => value.trim() !== 'none'))
  if (disabled || !anything) return async () => {}

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
  const sdk = new NodeSDK({
    instrumentations: [new GrpcInstrumentation()],
    resourceDetectors: [resources.envDetector, processWithoutCommandLine, resources.hostDetector],
  })
  sdk.start()
  let stopping: Promise<void> | undefined
  return (timeoutMs = 2_000) => {
    stopping ??= new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      timer.unref()
      sdk.shutdown().then(
        () => resolve(),
        () => resolve(),
      ).finally(() => clearTimeout(timer))
    })
    return stopping
  }
}

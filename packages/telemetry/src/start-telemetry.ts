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
 * Call it first in a service's `main.ts`, before importing the modules it should observe.
 * `env` (default `process.env`) is read, and the defaults above written into it, because the SDK
 * reads `process.env` itself.
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
  const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node')
  const sdk = new NodeSDK()
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

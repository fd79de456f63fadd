export { startTelemetry } from './start-telemetry'
export type { StopTelemetry, Telemetry } from './start-telemetry'
export { parseMetricsListen } from './metrics-listen'

export { startTelemetry } from './start-telemetry'
export type { StopTelemetry } from './start-telemetry'

/**
 * Parses `FLEXSEAT_METRICS_LISTEN` (`host:port`, IPv4 or a name; port 0 for any free one).
 * Throws with a clear message on anything else.
 */
export function parseMetricsListen(value: string): { host: string; port: number } {
  const match = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(value.trim())
  const port = match === null ? NaN : Number(match[2])
  if (match === null || port > 65_535) throw new Error(`FLEXSEAT_METRICS_LISTEN must be host:port (e.g. 127.0.0.1:9464), not "${value}"`)
  return { host: match[1] as string, port }
}

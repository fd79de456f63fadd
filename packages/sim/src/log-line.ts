/** A child's log line, parsed when it is a JSON record (pino, or etcd's zap logger). */
export interface LogLine {
  /** The line as written. */
  text: string
  /** The parsed record, when the line is a JSON object. */
  record: Record<string, unknown> | undefined
}

const PINO_LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
/** Fields every record carries that say nothing to a person reading the terminal. */
const HIDDEN = new Set(['level', 'time', 'ts', 'pid', 'hostname', 'msg', 'message', 'site', 'service', 'name', 'caller', 'v'])

export function parseLogLine(text: string): LogLine {
  if (!text.startsWith('{')) return { text, record: undefined }
  try {
    const value: unknown = JSON.parse(text)
    return { text, record: typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined }
  } catch {
    return { text, record: undefined }
  }
}

/**
 * Shortens a JSON log record to `LEVEL message key=value ...` (nested values as compact JSON);
 * other lines are returned as they are.
 */
export function formatLogLine(line: LogLine): string {
  const record = line.record
  if (record === undefined) return line.text
  const rawLevel = record.level
  const level = typeof rawLevel === 'number' ? (PINO_LEVELS[rawLevel] ?? String(rawLevel)) : typeof rawLevel === 'string' ? rawLevel.toUpperCase() : 'INFO'
  const message = typeof record.msg === 'string' ? record.msg : typeof record.message === 'string' ? record.message : ''
  const fields = Object.entries(record)
    .filter(([key]) => !HIDDEN.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' && !/\s/.test(value) ? value : JSON.stringify(value)}`)
  return [level.padEnd(5), message, ...fields].filter((part) => part !== '').join(' ')
}

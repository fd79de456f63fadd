/** A parsed `host:port`; IPv6 hosts are given without brackets. */
export interface HostPort {
  host: string
  port: number
}

/**
 * Parses `host:port` (`127.0.0.1:50051`, `registry-berlin:50051`, `[::1]:50051`). Port 0 is
 * accepted (bind to any free port). Returns undefined when `text` is not of that form.
 */
export function parseHostPort(text: string): HostPort | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?)):([0-9]{1,5})$/.exec(text)
  if (!match) return undefined
  const port = Number(match[3])
  if (port > 65_535) return undefined
  return { host: (match[1] ?? match[2]) as string, port }
}

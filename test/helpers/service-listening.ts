// Test support: the log of a branch HTTP service started as a process (provisioning, portal), and
// the URL it announces once it listens.
import { createInterface } from 'node:readline'
import type { TetheredProcess } from '@flexseat/sim'
import type { LogLine } from './branches'

/**
 * Collects `child`'s output into `text` (every line) and `logs` (the JSON ones) and resolves with
 * the `url` of its `<what> listening` log line; rejects when it exits first or after 15 s, with
 * everything it printed.
 */
export function untilListening(child: TetheredProcess, siteId: string, what: string, logs: LogLine[], text: string[]): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${siteId} ${what} did not listen: ${text.join('\n')}`)), 15_000)
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        text.push(line)
        if (!line.startsWith('{')) return
        const parsed = JSON.parse(line) as LogLine
        logs.push(parsed)
        if (parsed.msg === `${what} listening`) {
          clearTimeout(timer)
          resolve(String(parsed['url']))
        }
      })
    }
    void child.exited.then((exit) => reject(new Error(`${siteId} ${what} exited (${JSON.stringify(exit)}): ${text.join('\n')}`)))
  })
}

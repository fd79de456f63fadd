import { headerOf, type TracedMessage } from '@flexseat/sim'
import type { PhoneLine } from './records'
import type { ChaosWorker } from './topology'

/**
 * What one desk phone was told, from the messages its answering sipp received (retransmissions
 * once), oldest first:
 * - an INVITE whose To names a worker's extension → `ringing` for that worker;
 * - a MESSAGE `Signed in as 1001 (...)` / `Signed in as 1001 again` → `presenting` 1001;
 * - a MESSAGE `1001 signed out...` → `revoked` 1001;
 * - a MESSAGE `Flex sign-in suspended: branch offline` → `revoked` for the worker the desk was
 *   presenting (the node suspends every flex seat of the branch when its lease runs out).
 * Other messages (check-sync NOTIFYs, warnings) are not events of the seat.
 */
export function phoneLines(deviceId: string, received: readonly TracedMessage[], workers: readonly ChaosWorker[]): PhoneLine[] {
  const byExtension = new Map(workers.map((w) => [w.extension, w]))
  const seen = new Set<string>()
  const lines: PhoneLine[] = []
  let presenting: string | undefined
  for (const message of received) {
    const method = /^([A-Z]+) /.exec(message.startLine)?.[1]
    if (method !== 'INVITE' && method !== 'MESSAGE') continue
    const callId = headerOf(message, 'Call-ID') ?? ''
    const key = `${callId} ${headerOf(message, 'CSeq') ?? ''}`
    if (seen.has(key)) continue
    seen.add(key)
    const atMs = Math.round(message.at)
    if (method === 'INVITE') {
      const to = headerOf(message, 'To') ?? ''
      const extension = /sips?:([^@;>]+)@/.exec(to)?.[1]
      const worker = extension === undefined ? undefined : byExtension.get(extension)
      if (worker !== undefined) lines.push({ atMs, deviceId, event: 'ringing', userId: worker.id, callId, detail: to })
      continue
    }
    const text = message.body.trim()
    const signedIn = /^Signed in as (\d+)/.exec(text)
    const signedOut = /^(\d+) signed out/.exec(text)
    if (signedIn !== null) {
      const worker = byExtension.get(signedIn[1]!)
      if (worker === undefined) continue
      presenting = worker.id
      lines.push({ atMs, deviceId, event: 'presenting', userId: worker.id, callId, detail: text })
    } else if (signedOut !== null) {
      const worker = byExtension.get(signedOut[1]!)
      if (worker === undefined) continue
      if (presenting === worker.id) presenting = undefined
      lines.push({ atMs, deviceId, event: 'revoked', userId: worker.id, callId, detail: text })
    } else if (/^Flex sign-in suspended/.test(text) && presenting !== undefined) {
      lines.push({ atMs, deviceId, event: 'revoked', userId: presenting, callId, detail: text })
      presenting = undefined
    }
  }
  return lines
}

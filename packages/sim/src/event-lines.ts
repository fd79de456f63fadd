import type { LogLine } from './log-line'

/**
 * The events of the simulation worth a line in the terminal without `--verbose`, taken from the
 * processes' own log records (every line is in the process's log file anyway, logs/*.log):
 *
 * - a feature code dialled at a phone, with what the phone was answered (`amsterdam-desk-1 dialled
 *   *51*1001*•••• → 480 Signed in as 1001`; the PIN is masked by the SIP node already);
 * - a sign-in by another path than a phone (admin, portal, softkey: the registry's `signed in`);
 * - a revocation applied at the old branch, with its delay since the registry committed the move;
 * - a branch's confirmation lease lost and back, a lease taken over from a dead predecessor;
 * - a registry elected leader or losing the leadership;
 * - a worker locked out or a desk paused after too many wrong PINs;
 * - any ERROR or FATAL record of a flexseat service.
 *
 * Undefined for every other line. `kind` is the process kind (`registry`, `sip-node`, ...).
 */
export function eventLineOf(kind: string, line: LogLine): EventLine | undefined {
  const text = eventTextOf(kind, line)
  if (text === undefined) return undefined
  return { text, error: /^(ERROR|FATAL) /.test(text) }
}

/** A line for the terminal: its text, and whether it reports an error (shown even during the start). */
export interface EventLine {
  text: string
  error: boolean
}

function eventTextOf(kind: string, line: LogLine): string | undefined {
  const record = line.record
  if (record === undefined || kind === 'etcd') return undefined
  const msg = typeof record.msg === 'string' ? record.msg : ''
  const text = (name: string): string => (typeof record[name] === 'string' || typeof record[name] === 'number' ? String(record[name]) : '')
  if (kind === 'sip-node') {
    switch (msg) {
      case 'feature code':
        return `${text('device')} dialled ${userPart(text('dialled'))} → ${text('status')} ${text('reason')}`.trimEnd()
      case 'seat revoked': {
        const delay = typeof record.delayMs === 'number' ? `, ${record.delayMs} ms after the registry committed the move` : ''
        return `${text('user')} no longer seated at ${text('device')} (${text('reason')})${delay}`
      }
      case 'lease suspended':
        return `confirmation lease lost (${text('reason') || 'unknown'}): flex seats at this branch suspended`
      case 'lease active':
        return 'confirmation lease active: flex seats at this branch act'
      case 'released the lease of the previous process of this node (it is dead)':
        return `took the lease over from its dead predecessor ${text('previous')}`
    }
  }
  if (kind === 'registry') {
    switch (msg) {
      case 'signed in':
        // Phone sign-ins are the SIP node's `feature code` lines (with what the phone was told).
        if (text('via') === 'phone') return undefined
        return `${text('user')} signed in at ${text('device')} (${text('via')})${text('pendingOn') === '' ? '' : `, waiting for ${text('pendingOn')} to let go`}`
      case 'elected leader':
        return 'elected leader of the registries'
      case 'lost leadership':
        return `lost the leadership (${text('reason') || 'unknown'})`
      case 'worker locked out after too many wrong PINs':
        return `worker ${text('user')} locked out until ${text('until')} after too many wrong PINs (desk ${text('device')})`
      case 'desk paused after too many wrong PINs':
        return `desk ${text('device')} paused until ${text('until')} after too many wrong PINs`
    }
  }
  const level = record.level
  if (typeof level === 'number' && level >= 50) return `${level >= 60 ? 'FATAL' : 'ERROR'} ${msg}${errorText(record.err)}`
  return undefined
}

function userPart(uri: string): string {
  return /^sips?:([^@;>]+)/.exec(uri)?.[1] ?? uri
}

function errorText(err: unknown): string {
  if (typeof err !== 'object' || err === null) return ''
  const message = (err as { message?: unknown }).message
  return typeof message === 'string' && message !== '' ? `: ${message}` : ''
}

/**
 * Warns a desk before its seat ends by the worker's sign-out policy (`warn_minutes`): for every
 * active seat at this branch with `Seat.warn_seconds`, a timer at the scheduled end (the earlier of
 * its time limit and its daily sign-out, which the seat carries) less that, then a MESSAGE
 * `Signing out at 19:00 (daily sign-out) — dial *51*1001*PIN to stay` / `(time limit)`, the time in
 * the site's time zone; dialling that at the desk renews the seat (the registry's RenewSeat, see
 * feature-handler.ts), which arrives here as the seat at a new epoch and arms the next warning.
 * A seat that changes or ends clears its timer; an idle end (which moves with every call) is not
 * announced. Armed from the seat view, the initial snapshot included, so a restarted node warns
 * too (a warning already due when the node learns the seat is sent at once, once).
 *
 * State: listening from {@link SeatWarnings.start} until {@link SeatWarnings.stop}.
 */
import type { SiteConfig } from '@flexseat/config'
import type { Seat } from '@flexseat/proto'
import type { Logger } from 'pino'
import { isActive, type SeatChange } from './seat-view'

export interface SeatWarningsOptions {
  site: SiteConfig
  view: { on(event: 'changes', listener: (changes: SeatChange[]) => void): unknown; off(event: 'changes', listener: (changes: SeatChange[]) => void): unknown }
  messenger: { send(deviceId: string, text: string): Promise<void> }
  logger: Logger
  /** The wall clock (default Date.now). */
  now?: () => number
}

/** The scheduled end a desk is warned of: when, and why in words. */
export function scheduledEnd(seat: Seat): { at: number; why: 'time limit' | 'daily sign-out' } | undefined {
  const limit = seat.expiresAt?.getTime()
  const daily = seat.dailySignOutAt?.getTime()
  if (limit === undefined && daily === undefined) return undefined
  if (daily === undefined || (limit !== undefined && limit <= daily)) return { at: limit!, why: 'time limit' }
  return { at: daily, why: 'daily sign-out' }
}

/** "19:00": the local time of `at` (ms) in `timeZone`, as the desk's messages show it. */
export function localTime(at: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(at)
}

/**
 * "Signing out at 19:00 (daily sign-out)", the time in `timeZone`; with `stay` (the dial string
 * that renews the seat, "*51*1001*PIN") "... — dial *51*1001*PIN to stay".
 */
export function warningText(end: { at: number; why: string }, timeZone: string, stay?: string): string {
  const text = `Signing out at ${localTime(end.at, timeZone)} (${end.why})`
  return stay === undefined ? text : `${text} — dial ${stay} to stay`
}

export class SeatWarnings {
  readonly #o: SeatWarningsOptions
  /** By user: the seat's epoch and its timer. */
  readonly #timers = new Map<string, { epoch: string; timer: NodeJS.Timeout }>()
  readonly #onChanges = (changes: SeatChange[]): void => this.#changes(changes)

  private constructor(options: SeatWarningsOptions) {
    this.#o = options
  }

  static start(options: SeatWarningsOptions): SeatWarnings {
    const warnings = new SeatWarnings(options)
    options.view.on('changes', warnings.#onChanges)
    return warnings
  }

  stop(): void {
    this.#o.view.off('changes', this.#onChanges)
    for (const { timer } of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
  }

  #changes(changes: SeatChange[]): void {
    for (const change of changes) {
      const { seat } = change
      const armed = this.#timers.get(seat.userId)
      if (armed !== undefined && (change.kind === 'released' || armed.epoch !== seat.epoch)) {
        clearTimeout(armed.timer)
        this.#timers.delete(seat.userId)
      }
      if (change.kind !== 'seated' || seat.siteId !== this.#o.site.id || !isActive(seat) || seat.warnSeconds === 0) continue
      if (this.#timers.has(seat.userId)) continue
      const end = scheduledEnd(seat)
      if (end === undefined) continue
      const now = (this.#o.now ?? Date.now)()
      if (end.at <= now) continue
      // setTimeout takes at most 2^31-1 ms (24.8 days): a longer wait is cut short and re-armed.
      const delay = Math.min(Math.max(0, end.at - seat.warnSeconds * 1_000 - now), 2 ** 31 - 1)
      const timer = setTimeout(() => {
        this.#timers.delete(seat.userId)
        const text = warningText(end, this.#o.site.timezone, `${this.#o.site.featureCodes.login}*${seat.extension}*PIN`)
        this.#o.logger.info({ user: seat.userId, device: seat.deviceId, epoch: seat.epoch, at: new Date(end.at).toISOString() }, 'seat end announced')
        this.#o.messenger.send(seat.deviceId, text).catch((error: unknown) => this.#o.logger.warn({ err: error, device: seat.deviceId }, 'seat end warning failed'))
      }, delay)
      timer.unref()
      this.#timers.set(seat.userId, { epoch: seat.epoch, timer })
    }
  }
}

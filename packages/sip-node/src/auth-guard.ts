/**
 * The answer to SIP password guessing (issue 21), on by default: authentication failures (a
 * wrong digest, an unknown device id, malformed credentials) are counted per source address and
 * per account (the digest username) over a sliding window (`failureWindowSeconds`).
 *
 * - A source past `failuresBeforeDelay` has every answer to it delayed (challenges too):
 *   `firstDelayMs`, doubling with each further failure, at most `maxDelayMs`. The delay is a
 *   timer (the node goes on serving everyone else), and at most {@link MAX_DELAYED} answers wait
 *   at once: past that an answer is sent at once (its failure still counts, so the ban comes as
 *   fast).
 * - A source reaching `failuresBeforeBan` is banned for `banSeconds`: everything it sends is
 *   answered 403 at once, exactly as a wrong password is (the guesser cannot tell it is banned, and
 *   a banned source costs no directory lookup and no digest). The ban is logged once (source,
 *   failures, seconds; never a username's password, a nonce or a digest) and counted
 *   (`flexseat.sip.auth.bans`).
 * - An account past `accountFailuresBeforeDelay` (a guesser spread over many sources) has its
 *   failures answered late the same way, from any source.
 * - No account is ever locked: right credentials are never delayed or refused for the account's
 *   sake, and a banned source that is where the account last authenticated from (its phone
 *   behind the same NAT as the guesser) is still heard for that account.
 *
 * Memory is bounded: at most {@link MAX_TRACKED} sources and as many accounts are remembered (the
 * least recently failing forgotten first), each with at most `failuresBeforeBan` failure times.
 */
import { createHash } from 'node:crypto'
import type { SipSecurityConfig } from '@flexseat/config'

/** Sources and accounts remembered at most (each). */
export const MAX_TRACKED = 10_000
/** Answers waiting on a delay at most. */
export const MAX_DELAYED = 1_000
/** Accounts whose last good source is remembered at most. */
const MAX_KNOWN_SOURCES = 50_000

/** What the node does with a request before it verifies anything. */
export type GuardVerdict = { kind: 'pass' } | { kind: 'banned' }

/** What the guard reports (the node logs and counts it). */
export interface AuthGuardEvents {
  /** A source was banned (once per ban). */
  banned(event: { source: string; failures: number; banSeconds: number }): void
  /** A source entered the delayed state (once per source until it is forgotten or banned). */
  delayed(event: { source: string; failures: number; delayMs: number }): void
  /** An answer was delayed. */
  answerDelayed?(delayMs: number): void
}

interface Failures {
  /** Failure times (ms), oldest first; at most the ban threshold of them. */
  times: number[]
  /** Whether the `delayed` event was reported for this source already. */
  reported?: boolean
}

/** See the file comment. */
/** The longest digest username kept as it is; a longer one is kept as its SHA-256 (bounded memory per account). */
const MAX_ACCOUNT_KEY = 128

function accountKey(account: string): string {
  return account.length <= MAX_ACCOUNT_KEY ? account : `sha256:${createHash('sha256').update(account).digest('hex')}`
}

export class AuthGuard {
  readonly #config: SipSecurityConfig
  readonly #now: () => number
  readonly #events: AuthGuardEvents
  readonly #sources = new Map<string, Failures>()
  readonly #accounts = new Map<string, Failures>()
  /** Source address → ban end (ms). */
  readonly #bans = new Map<string, number>()
  /** Account → the address it last authenticated from. */
  readonly #knownSources = new Map<string, string>()
  #delayed = 0

  constructor(config: SipSecurityConfig, events: AuthGuardEvents, now: () => number = Date.now) {
    this.#config = config
    this.#events = events
    this.#now = now
  }

  /** Answers waiting on a delay now. */
  get delayedAnswers(): number {
    return this.#delayed
  }

  /** Sources banned now. */
  get bannedSources(): number {
    this.#expireBans()
    return this.#bans.size
  }

  /** Whether to hear a request from `source` (an address) naming `account` (undefined: none). */
  admit(source: string, account: string | undefined): GuardVerdict {
    if (!this.#config.enabled) return { kind: 'pass' }
    if (account !== undefined) account = accountKey(account)
    const until = this.#bans.get(source)
    if (until === undefined) return { kind: 'pass' }
    if (until <= this.#now()) {
      this.#bans.delete(source)
      this.#sources.delete(source)
      return { kind: 'pass' }
    }
    if (account !== undefined && this.#knownSources.get(account) === source) return { kind: 'pass' }
    return { kind: 'banned' }
  }

  /** Right credentials for `account` from `source`: remembered as the account's known source. */
  succeeded(source: string, account: string): void {
    account = accountKey(account)
    this.#knownSources.delete(account)
    this.#knownSources.set(account, source)
    if (this.#knownSources.size > MAX_KNOWN_SOURCES) this.#knownSources.delete(this.#knownSources.keys().next().value!)
  }

  /** A failure from `source` for `account`; may ban the source. */
  failed(source: string, account: string | undefined): void {
    if (!this.#config.enabled) return
    const now = this.#now()
    const failures = this.#record(this.#sources, source, now)
    if (account !== undefined) this.#record(this.#accounts, accountKey(account), now)
    if (failures.times.length >= this.#config.failuresBeforeBan && !this.#bans.has(source)) {
      this.#expireBans()
      this.#bans.set(source, now + this.#config.banSeconds * 1_000)
      if (this.#bans.size > MAX_TRACKED) this.#bans.delete(this.#bans.keys().next().value!)
      this.#events.banned({ source, failures: failures.times.length, banSeconds: this.#config.banSeconds })
    }
  }

  /**
   * How long to hold an answer to `source` (a failure when `failure`, for `account`), in ms:
   * 0 below the thresholds. Counts the failures first recorded with {@link failed}.
   */
  delayFor(source: string, account: string | undefined, failure: boolean): number {
    if (!this.#config.enabled) return 0
    const now = this.#now()
    const bySource = this.#excess(this.#sources.get(source), this.#config.failuresBeforeDelay, now)
    const byAccount = failure && account !== undefined ? this.#excess(this.#accounts.get(accountKey(account)), this.#config.accountFailuresBeforeDelay, now) : 0
    const excess = Math.max(bySource, byAccount)
    if (excess === 0) return 0
    const delayMs = Math.min(this.#config.maxDelayMs, this.#config.firstDelayMs * 2 ** Math.min(excess - 1, 30))
    const failures = this.#sources.get(source)
    if (bySource > 0 && failures !== undefined && failures.reported !== true) {
      failures.reported = true
      this.#events.delayed({ source, failures: failures.times.length, delayMs })
    }
    return delayMs
  }

  /** Waits `delayMs` (a timer, nothing blocked); at once when {@link MAX_DELAYED} answers wait already. */
  async hold(delayMs: number): Promise<void> {
    if (delayMs <= 0 || this.#delayed >= MAX_DELAYED) return
    this.#delayed++
    this.#events.answerDelayed?.(delayMs)
    try {
      // unref'd: a delayed answer never holds up the process' exit.
      await new Promise<void>((resolve) => setTimeout(resolve, delayMs).unref())
    } finally {
      this.#delayed--
    }
  }

  // Failures beyond `threshold` within the window (0 when none).
  #excess(failures: Failures | undefined, threshold: number, now: number): number {
    if (failures === undefined) return 0
    this.#prune(failures, now)
    return Math.max(0, failures.times.length - threshold + 1)
  }

  #record(map: Map<string, Failures>, key: string, now: number): Failures {
    const failures = map.get(key) ?? { times: [] }
    this.#prune(failures, now)
    failures.times.push(now)
    const keep = Math.max(this.#config.failuresBeforeBan, this.#config.accountFailuresBeforeDelay) + 32
    if (failures.times.length > keep) failures.times.splice(0, failures.times.length - keep)
    // Most recently failing last: the first key is the one forgotten when full.
    map.delete(key)
    map.set(key, failures)
    if (map.size > MAX_TRACKED) map.delete(map.keys().next().value!)
    return failures
  }

  #prune(failures: Failures, now: number): void {
    const since = now - this.#config.failureWindowSeconds * 1_000
    let drop = 0
    while (drop < failures.times.length && failures.times[drop]! <= since) drop++
    if (drop > 0) failures.times.splice(0, drop)
  }

  #expireBans(): void {
    const now = this.#now()
    for (const [source, until] of this.#bans) if (until <= now) this.#bans.delete(source)
  }
}

import type { FaultLine, HistoryOp, PhoneLine } from './records'
import { quantile } from './report'

/** A distribution's size and its p50 / p99 / max, in ms. */
export interface Distribution {
  n: number
  p50: number | undefined
  p99: number | undefined
  max: number | undefined
}

/** What a branch cut did, as the node and the clients saw it. */
export interface CutFigures {
  branch: string
  startMs: number
  /** The cut → the branch's node logged `lease suspended` (undefined: it did not within the cut). */
  suspendedAfterMs: number | undefined
  /**
   * Logins (ok) invoked during the cut of a worker last seen seated at the cut branch: their
   * time from call to answer (the takeover waits for the branch's acknowledgement or its lease).
   */
  takeoverMs: Distribution
}

/** The multi-site figures, from a run's records. */
export interface RunFigures {
  /** `*51*ext*pin` at the phone → `480 Signed in` (ok SIP logins; sipp's INVITE, 407 round trip included). */
  signInAtPhoneMs: Distribution
  /**
   * A login moving a worker to another desk (its call) → the MESSAGE `... signed out: signed in
   * at ...` at the desk left (phones.jsonl).
   */
  revocationAtOldPhoneMs: Distribution
  cuts: CutFigures[]
}

export function distribution(values: number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b)
  return { n: sorted.length, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) }
}

/**
 * Computes {@link RunFigures}. `suspensions` are the nodes' `lease suspended` log lines
 * (site, time).
 */
export function runFigures(history: readonly HistoryOp[], phones: readonly PhoneLine[], faults: readonly FaultLine[], suspensions: readonly { site: string; atMs: number }[], deviceSite: (deviceId: string) => string | undefined): RunFigures {
  const signIns = history.filter((op) => op.via === 'sip' && op.kind === 'login' && op.outcome === 'ok' && op.completeMs !== null).map((op) => op.completeMs! - op.invokeMs)
  const logins = history.filter((op) => op.kind === 'login' && op.outcome !== 'fail').sort((a, b) => a.invokeMs - b.invokeMs)
  const revocations: number[] = []
  for (const event of phones) {
    if (event.event !== 'revoked' || !/signed out: signed in at/.test(event.detail ?? '')) continue
    // The latest login of the worker at another desk called before the desk was told.
    let cause: HistoryOp | undefined
    for (const op of logins) {
      if (op.invokeMs > event.atMs) break
      if (op.userId === event.userId && op.deviceId !== event.deviceId) cause = op
    }
    if (cause !== undefined && event.atMs - cause.invokeMs < 30_000) revocations.push(event.atMs - cause.invokeMs)
  }
  const cuts = faults
    .filter((f) => f.name === 'branch-cut')
    .map((fault): CutFigures => {
      const branch = fault.target.replace(/^branch:/, '')
      const suspended = suspensions.filter((s) => s.site === branch && s.atMs >= fault.startMs && s.atMs <= fault.endMs).map((s) => s.atMs)
      // Where each worker sat when the cut began, from the ok logins and logouts completed before it.
      const seatAt = new Map<string, string | undefined>()
      for (const op of [...history].filter((o) => o.outcome === 'ok' && o.kind !== 'read' && o.completeMs !== null && o.completeMs <= fault.startMs).sort((a, b) => a.completeMs! - b.completeMs!)) {
        if (op.kind === 'login') {
          for (const [user, desk] of seatAt) if (desk === op.deviceId) seatAt.set(user, undefined)
          seatAt.set(op.userId, op.deviceId)
        } else seatAt.set(op.userId, undefined)
      }
      const takeovers = history
        .filter((op) => op.kind === 'login' && op.outcome === 'ok' && op.completeMs !== null && op.invokeMs >= fault.startMs && op.invokeMs < fault.endMs)
        .filter((op) => {
          const desk = seatAt.get(op.userId)
          return desk !== undefined && deviceSite(desk) === branch && deviceSite(op.deviceId) !== branch
        })
        .map((op) => op.completeMs! - op.invokeMs)
      return { branch, startMs: fault.startMs, suspendedAfterMs: suspended.length === 0 ? undefined : Math.min(...suspended) - fault.startMs, takeoverMs: distribution(takeovers) }
    })
  return { signInAtPhoneMs: distribution(signIns), revocationAtOldPhoneMs: distribution(revocations), cuts }
}

const ms = (value: number | undefined): string => (value === undefined ? '—' : `${Math.round(value)}`)

/** The figures as text lines. */
export function formatFigures(figures: RunFigures): string[] {
  const d = (x: Distribution): string => `p50 ${ms(x.p50)} ms, p99 ${ms(x.p99)} ms, max ${ms(x.max)} ms (n=${x.n})`
  return [
    `sign-in at the phone (*51 INVITE → 480 Signed in): ${d(figures.signInAtPhoneMs)}`,
    `revocation at the old phone (the move's call → MESSAGE at the desk left): ${d(figures.revocationAtOldPhoneMs)}`,
    ...figures.cuts.map((c) => `cut of ${c.branch}: lease suspended after ${ms(c.suspendedAfterMs)} ms; takeovers of its workers during the cut: ${d(c.takeoverMs)}`),
  ]
}

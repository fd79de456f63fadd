/**
 * checkRun: every checker over one run directory (history.jsonl, watch.jsonl, phones.jsonl,
 * faults.jsonl, etcd.json; packages/history-check/README.md). etcd must still be running: the
 * seat history is replayed from it.
 */
import { createEtcdClient } from '@flexseat/registry'
import { ACKNOWLEDGED, checkAcknowledgedSignIns } from './acknowledged'
import { type CheckReport, readRun } from './history'
import { checkSeatLinearizability, LINEARIZABILITY } from './linearizability'
import { checkPhones, PHONES } from './phones'
import { readSeatHistory, REL, type SeatHistory, type SeatValue, parseValue } from './seat-history'
import { type RequestIdMode, settleIndeterminate } from './indeterminate'
import { checkUniqueness, UNIQUENESS } from './uniqueness'
import { checkWatchStreams, WATCH } from './watch-streams'

export interface CheckOptions {
  /** Phones: the largest double act allowed, ms (default lease 5 s + 0.25 s: phones.ts). */
  phoneBoundMs?: number
  /** Linearizability: search steps per component before `unknown` (default 2,000,000). */
  maxSteps?: number
  /** Watch streams: the site each scoped client watches (absent: every seat). */
  watchSites?: Readonly<Record<string, string>>
  /** Whether op ids are registry request ids, to settle indeterminate gRPC writes (indeterminate.ts; default auto). */
  requestIds?: RequestIdMode
  /**
   * Where a checker that could not decide goes besides `unknown` (default `violation`): also into
   * `violations`, as checker `<name>:unknown`, so that a caller reading only `violations` never
   * takes an undecided check for a pass. `separate`: only in `unknown` (the CLI's exit status 3).
   */
  unknownAs?: 'violation' | 'separate'
  /** How long to wait for etcd's history (default 60 s). */
  etcdTimeoutMs?: number
}

/** Per checker, what it examined and what it found; plus the linearizability search figures. */
export interface CheckRunReport extends CheckReport {
  figures: { linearizability: { components: number; ops: number; steps: number; ms: number }; phones: { maxDoubleMs: number }; /** Indeterminate writes etcd showed took no effect. */ settled: number }
}

/** Where workers sat just before the run (the replay's initial state). */
export function initialSeats(history: SeatHistory): Map<string, string> {
  const seats = new Map<string, string>()
  for (const [key, value] of history.initial) {
    if (!key.startsWith(REL.seats)) continue
    const seat = parseValue<SeatValue>(value)
    if (seat) seats.set(key.slice(REL.seats.length), seat.deviceId)
  }
  return seats
}

/** Runs every checker over the run directory `dir`. */
export async function checkRun(dir: string, options: CheckOptions = {}): Promise<CheckRunReport> {
  const run = await readRun(dir)
  const report: CheckRunReport = { violations: [], checked: {}, unknown: [], figures: { linearizability: { components: 0, ops: 0, steps: 0, ms: 0 }, phones: { maxDoubleMs: 0 }, settled: 0 } }
  let history: SeatHistory | undefined
  if (run.etcd) {
    const etcd = createEtcdClient(run.etcd.endpoints, { callTimeoutMs: 10_000 })
    try {
      history = await readSeatHistory({ etcd, prefix: run.etcd.prefix, fromRevision: run.etcd.fromRevision, toRevision: run.etcd.toRevision, ...(options.etcdTimeoutMs ? { timeoutMs: options.etcdTimeoutMs } : {}) })
    } finally {
      etcd.close()
    }
  }
  if (history) {
    const u = checkUniqueness(history)
    report.violations.push(...u.violations)
    report.checked[UNIQUENESS] = u.checked
    const a = checkAcknowledgedSignIns(run.ops, history, run.watch)
    report.violations.push(...a.violations)
    report.checked[ACKNOWLEDGED] = a.checked
    const w = checkWatchStreams(run.watch, history, options.watchSites ? { sites: options.watchSites } : {})
    report.violations.push(...w.violations)
    report.checked[WATCH] = w.checked
  } else {
    for (const name of [UNIQUENESS, ACKNOWLEDGED, WATCH]) {
      report.checked[name] = 0
      report.unknown!.push({ checker: name, message: 'no etcd.json in the run directory: etcd\'s history was not replayed' })
    }
  }
  const started = performance.now()
  const settled = history ? settleIndeterminate(run.ops, history, options.requestIds, run.watch) : { ops: run.ops, settled: 0, effectBy: new Map<string, number>(), tookEffect: new Set<string>() }
  report.figures.settled = settled.settled
  const l = checkSeatLinearizability(settled.ops, { effectBy: settled.effectBy, tookEffect: settled.tookEffect, ...(history ? { initialSeats: initialSeats(history) } : {}), ...(options.maxSteps ? { maxSteps: options.maxSteps } : {}) })
  report.figures.linearizability = { components: l.components.length, ops: l.checked, steps: l.components.reduce((s, c) => s + c.steps, 0), ms: Math.round(performance.now() - started) }
  report.violations.push(...l.violations)
  report.checked[LINEARIZABILITY] = l.checked
  report.unknown!.push(...l.unknown.map((x) => ({ checker: LINEARIZABILITY, message: x.message })))
  const p = checkPhones(run.phones, options.phoneBoundMs !== undefined ? { boundMs: options.phoneBoundMs } : {})
  report.violations.push(...p.violations)
  report.checked[PHONES] = p.checked
  report.figures.phones.maxDoubleMs = p.maxDoubleMs
  if ((options.unknownAs ?? 'violation') === 'violation') {
    for (const u of report.unknown ?? []) report.violations.push({ checker: `${u.checker}:unknown`, message: `undecided, not a pass: ${u.message}` })
  }
  return report
}

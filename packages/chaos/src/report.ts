import type { CheckReport, Violation } from '@flexseat/history-check'
import { formatFigures, type RunFigures } from './figures'
import type { CallLine, FaultLine, HistoryOp } from './records'

/** One phase of a run: before any fault, during one fault (or combination), after it. */
export interface Phase {
  /** `before`, `during registry-leader-kill`, `after registry-leader-kill`... */
  name: string
  kind: 'before' | 'during' | 'after'
  /** The fault spec of a during/after phase. */
  fault?: string
  startMs: number
  endMs: number
}

/** What the checkers report (`@flexseat/history-check`'s checkRun), in its own types. */
export type { CheckReport, Violation }

/** The figures of one phase. */
export interface PhaseFigures {
  phase: Phase
  seconds: number
  /** Operations invoked in the phase, by outcome. */
  ops: { total: number; ok: number; fail: number; info: number }
  /** Writes (logins and logouts) invoked in the phase, by way in. */
  writes: Record<'sip' | 'grpc', { total: number; ok: number; fail: number; info: number }>
  reads: { total: number; ok: number }
  /** Operations completed ok per second of the phase. */
  okPerSecond: number
  /** ok / total of the writes (1 when there were none). */
  writeSuccess: number
  readSuccess: number
  /** Writes' completion times (invoke → complete) of the ok ones: p50 and p99 in ms. */
  writeLatencyMs: { p50: number | undefined; p99: number | undefined }
  /**
   * For a during phase: ms from the fault's start to the completion of the first ok write
   * invoked after it; for an after phase: from the heal. By way in; undefined: none in the run.
   */
  firstSuccessMs: Record<'sip' | 'grpc', number | undefined>
  calls: { total: number; answered: number }
  violations: Violation[]
}

/** The whole report. */
export interface RunReport {
  runDir: string
  startedAt: string
  options: Record<string, unknown>
  phases: PhaseFigures[]
  faults: FaultLine[]
  /** undefined: the checkers did not run (the reason is in `uncheckedReason`). */
  check: CheckReport | undefined
  uncheckedReason?: string
  totals: { ops: number; ok: number; fail: number; info: number; neverCompleted: number; calls: number }
  /** The issue's multi-site figures (sign-in at the phone, revocation at the old phone, cuts). */
  figures?: RunFigures
}

/** Computes the figures of every phase. */
export function buildReport(input: { runDir: string; startedAt: string; options: Record<string, unknown>; phases: Phase[]; faults: FaultLine[]; history: HistoryOp[]; calls: CallLine[]; check: CheckReport | undefined; uncheckedReason?: string; figures?: RunFigures }): RunReport {
  const { history, calls } = input
  const phases = input.phases.map((phase): PhaseFigures => {
    const inPhase = history.filter((op) => op.invokeMs >= phase.startMs && op.invokeMs < phase.endMs)
    const count = (ops: HistoryOp[]): { total: number; ok: number; fail: number; info: number } => ({
      total: ops.length,
      ok: ops.filter((o) => o.outcome === 'ok').length,
      fail: ops.filter((o) => o.outcome === 'fail').length,
      info: ops.filter((o) => o.outcome === 'info').length,
    })
    const writes = inPhase.filter((o) => o.kind !== 'read')
    const reads = inPhase.filter((o) => o.kind === 'read')
    const seconds = Math.max(0.001, (phase.endMs - phase.startMs) / 1_000)
    const okWrites = writes.filter((o) => o.outcome === 'ok' && o.completeMs !== null)
    const latencies = okWrites.map((o) => o.completeMs! - o.invokeMs).sort((a, b) => a - b)
    const from = phase.startMs
    const firstSuccess = (via: 'sip' | 'grpc'): number | undefined => {
      if (phase.kind === 'before') return undefined
      const firsts = history.filter((o) => o.via === via && o.kind !== 'read' && o.outcome === 'ok' && o.invokeMs >= from && o.completeMs !== null).map((o) => o.completeMs! - from)
      return firsts.length === 0 ? undefined : Math.min(...firsts)
    }
    const phaseCalls = calls.filter((c) => c.invokeMs >= phase.startMs && c.invokeMs < phase.endMs)
    const violations = (input.check?.violations ?? []).filter((v) => v.atMs !== undefined && v.atMs >= phase.startMs && v.atMs < phase.endMs)
    return {
      phase,
      seconds,
      ops: count(inPhase),
      writes: { sip: count(writes.filter((o) => o.via === 'sip')), grpc: count(writes.filter((o) => o.via === 'grpc')) },
      reads: { total: reads.length, ok: reads.filter((o) => o.outcome === 'ok').length },
      okPerSecond: inPhase.filter((o) => o.outcome === 'ok').length / seconds,
      writeSuccess: writes.length === 0 ? 1 : okWrites.length / writes.length,
      readSuccess: reads.length === 0 ? 1 : reads.filter((o) => o.outcome === 'ok').length / reads.length,
      writeLatencyMs: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) },
      firstSuccessMs: { sip: firstSuccess('sip'), grpc: firstSuccess('grpc') },
      calls: { total: phaseCalls.length, answered: phaseCalls.filter((c) => c.status !== null && c.status >= 200 && c.status < 300).length },
      violations,
    }
  })
  return {
    runDir: input.runDir,
    startedAt: input.startedAt,
    options: input.options,
    phases,
    faults: input.faults,
    check: input.check,
    ...(input.uncheckedReason === undefined ? {} : { uncheckedReason: input.uncheckedReason }),
    ...(input.figures === undefined ? {} : { figures: input.figures }),
    totals: {
      ops: history.length,
      ok: history.filter((o) => o.outcome === 'ok').length,
      fail: history.filter((o) => o.outcome === 'fail').length,
      info: history.filter((o) => o.outcome === 'info').length,
      neverCompleted: history.filter((o) => o.completeMs === null).length,
      calls: calls.length,
    },
  }
}

/** The q-quantile (nearest rank) of sorted values; undefined when empty. */
export function quantile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

const ms = (value: number | undefined): string => (value === undefined ? '—' : `${Math.round(value)}`)
const pct = (value: number): string => `${(value * 100).toFixed(0)}%`

/** The report as plain text (a table per phase, then the violations). */
export function formatText(report: RunReport): string {
  const header = ['phase', 's', 'ops', 'ok/s', 'sip ok/all', 'grpc ok/all', 'info', 'writes ok', 'reads ok', 'write p50/p99 ms', 'first ok sip/grpc ms', 'calls ans/all', 'violations']
  const rows = report.phases.map((p) => [
    p.phase.name,
    p.seconds.toFixed(1),
    String(p.ops.total),
    p.okPerSecond.toFixed(1),
    `${p.writes.sip.ok}/${p.writes.sip.total}`,
    `${p.writes.grpc.ok}/${p.writes.grpc.total}`,
    String(p.ops.info),
    pct(p.writeSuccess),
    pct(p.readSuccess),
    `${ms(p.writeLatencyMs.p50)}/${ms(p.writeLatencyMs.p99)}`,
    `${ms(p.firstSuccessMs.sip)}/${ms(p.firstSuccessMs.grpc)}`,
    `${p.calls.answered}/${p.calls.total}`,
    String(p.violations.length),
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  const out = [
    `chaos run ${report.runDir} (started ${report.startedAt})`,
    `options: ${JSON.stringify(report.options)}`,
    `operations: ${report.totals.ops} (ok ${report.totals.ok}, fail ${report.totals.fail}, info ${report.totals.info}, never completed ${report.totals.neverCompleted}); calls ${report.totals.calls}`,
    '',
    line(header),
    ...rows.map(line),
    '',
    'faults:',
    ...report.faults.map((f) => `  ${f.name} on ${f.target}: ${((f.endMs - f.startMs) / 1_000).toFixed(1)} s`),
    '',
    ...(report.figures === undefined ? [] : ['figures:', ...formatFigures(report.figures).map((l) => `  ${l}`), '']),
  ]
  if (report.check === undefined) out.push(`NOT CHECKED: ${report.uncheckedReason ?? 'the checkers did not run'}`)
  else {
    out.push(`checked: ${Object.entries(report.check.checked).map(([k, v]) => `${k} ${v}`).join(', ') || 'nothing'}`)
    out.push(report.check.violations.length === 0 ? 'violations: none' : `VIOLATIONS: ${report.check.violations.length}`)
    for (const u of report.check.unknown ?? []) out.push(`UNDECIDED [${u.checker}] ${u.message}`)
    for (const v of report.check.violations.slice(0, 50)) out.push(`  [${v.checker}] ${v.atMs === undefined ? '' : `${new Date(v.atMs).toISOString()} `}${v.message}${v.ops === undefined ? '' : ` (ops ${v.ops.join(', ')})`}`)
    if (report.check.violations.length > 50) out.push(`  ... and ${report.check.violations.length - 50} more (report.json)`)
  }
  return `${out.join('\n')}\n`
}

const escape = (text: string): string => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)

/** The report as one HTML page (no script, no external resource): the table, a timeline of ok/s with the faults, the violations. */
export function formatHtml(report: RunReport, history: readonly HistoryOp[]): string {
  const start = Math.min(...report.phases.map((p) => p.phase.startMs))
  const end = Math.max(...report.phases.map((p) => p.phase.endMs))
  const seconds = Math.max(1, Math.ceil((end - start) / 1_000))
  const ok = new Array<number>(seconds).fill(0)
  const bad = new Array<number>(seconds).fill(0)
  for (const op of history) {
    const at = Math.floor(((op.completeMs ?? op.invokeMs) - start) / 1_000)
    if (at < 0 || at >= seconds) continue
    if (op.outcome === 'ok') ok[at]! += 1
    else bad[at]! += 1
  }
  const width = 900
  const height = 160
  const max = Math.max(1, ...ok.map((v, i) => v + bad[i]!))
  const x = (s: number): number => (s / seconds) * width
  const y = (v: number): number => height - (v / max) * (height - 10)
  const bars = ok
    .map((v, i) => `<rect x="${x(i).toFixed(1)}" y="${y(v).toFixed(1)}" width="${Math.max(1, x(1) - 1).toFixed(1)}" height="${(height - y(v)).toFixed(1)}" fill="#2a7"/>` +
      `<rect x="${x(i).toFixed(1)}" y="${y(v + bad[i]!).toFixed(1)}" width="${Math.max(1, x(1) - 1).toFixed(1)}" height="${(y(v) - y(v + bad[i]!)).toFixed(1)}" fill="#d54"/>`)
    .join('')
  const bands = report.faults
    .map((f) => `<rect x="${x((f.startMs - start) / 1_000).toFixed(1)}" y="0" width="${Math.max(2, x((f.endMs - f.startMs) / 1_000)).toFixed(1)}" height="${height}" fill="#fc3" opacity="0.25"><title>${escape(`${f.name} ${f.target}`)}</title></rect>`)
    .join('')
  const rows = report.phases
    .map((p) => `<tr${p.violations.length > 0 ? ' class="bad"' : ''}><th scope="row">${escape(p.phase.name)}</th><td>${p.seconds.toFixed(1)}</td><td>${p.ops.total}</td><td>${p.okPerSecond.toFixed(1)}</td><td>${p.writes.sip.ok}/${p.writes.sip.total}</td><td>${p.writes.grpc.ok}/${p.writes.grpc.total}</td><td>${p.ops.info}</td><td>${pct(p.writeSuccess)}</td><td>${pct(p.readSuccess)}</td><td>${ms(p.writeLatencyMs.p50)} / ${ms(p.writeLatencyMs.p99)}</td><td>${ms(p.firstSuccessMs.sip)} / ${ms(p.firstSuccessMs.grpc)}</td><td>${p.calls.answered}/${p.calls.total}</td><td>${p.violations.length}</td></tr>`)
    .join('\n')
  const verdict = report.check === undefined
    ? `<p class="bad"><strong>Not checked:</strong> ${escape(report.uncheckedReason ?? 'the checkers did not run')}</p>`
    : report.check.violations.length === 0
      ? `<p class="good"><strong>No violation</strong> (${escape(Object.entries(report.check.checked).map(([k, v]) => `${k}: ${v}`).join(', '))})</p>`
      : `<p class="bad"><strong>${report.check.violations.length} violation(s)</strong></p><ul>${report.check.violations.slice(0, 200).map((v) => `<li><code>${escape(v.checker)}</code> ${v.atMs === undefined ? '' : escape(new Date(v.atMs).toISOString())} ${escape(v.message)}${v.ops === undefined ? '' : ` <small>(${escape(v.ops.join(', '))})</small>`}</li>`).join('')}</ul>`
  const undecided = (report.check?.unknown ?? []).map((u) => `<p class="bad"><strong>Undecided</strong> (not a pass): <code>${escape(u.checker)}</code> ${escape(u.message)}</p>`).join('')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>flexseat chaos run</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}td,th{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:right}th[scope=row]{text-align:left}.bad{color:#b00}.good{color:#070}svg{border:1px solid #ccc}</style></head>
<body><main>
<h1>flexseat chaos run</h1>
<p>${escape(report.runDir)}, started ${escape(report.startedAt)}. ${report.totals.ops} operations (ok ${report.totals.ok}, fail ${report.totals.fail}, info ${report.totals.info}, never completed ${report.totals.neverCompleted}), ${report.totals.calls} calls.</p>
${verdict}${undecided}
<h2>Operations per second</h2>
<p>Green: ok; red: fail or indeterminate; yellow bands: faults (hover for the fault).</p>
<svg width="${width}" height="${height}" role="img" aria-label="operations per second over the run">${bands}${bars}</svg>
<h2>Phases</h2>
<table><thead><tr><th>phase</th><th>s</th><th>ops</th><th>ok/s</th><th>SIP writes ok/all</th><th>gRPC writes ok/all</th><th>indeterminate</th><th>writes ok</th><th>reads ok</th><th>write p50 / p99 ms</th><th>first ok SIP / gRPC ms</th><th>calls answered</th><th>violations</th></tr></thead>
<tbody>${rows}</tbody></table>
${report.figures === undefined ? '' : `<h2>Figures</h2><ul>${formatFigures(report.figures).map((l) => `<li>${escape(l)}</li>`).join('')}</ul>`}
<h2>Faults</h2>
<ul>${report.faults.map((f) => `<li>${escape(f.name)} on ${escape(f.target)}: ${((f.endMs - f.startMs) / 1_000).toFixed(1)} s</li>`).join('')}</ul>
<h2>Options</h2><pre>${escape(JSON.stringify(report.options, null, 2))}</pre>
</main></body></html>
`
}

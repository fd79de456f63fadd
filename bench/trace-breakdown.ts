/**
 * Where a `*51` sign-in's time goes, from the spans of a run of bench/sip-node.ts with
 * `--span-file <path>` (FLEXSEAT_TEST_SPAN_FILE: every SIP node and registry appends its finished
 * spans there, gRPC client and server spans included, etcd's calls among them).
 *
 *   npx tsx bench/trace-breakdown.ts <span file> [--skip 2]
 *
 * For each sign-in (a `sip.feature_code` span with `flexseat.feature` = login) it takes the spans
 * of its trace and of the traces linked to it (the old branch's `seat.revocation_apply`), and
 * prints, per span (service, name and its occurrence in the trace, in order of start), the median
 * and p99 of its start after the sign-in's start and of its duration, and in how many sign-ins it
 * occurred. Prints figures, never asserts.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { SpanRecord } from '@flexseat/telemetry'
import { percentile } from './stats'

const { values, positionals } = parseArgs({ allowPositionals: true, options: { skip: { type: 'string', default: '2' } } })
const file = positionals[0]
if (file === undefined) throw new Error('usage: trace-breakdown.ts <span file>')
const spans: SpanRecord[] = readFileSync(file, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as SpanRecord)

const byTrace = new Map<string, SpanRecord[]>()
for (const span of spans) byTrace.set(span.traceId, [...(byTrace.get(span.traceId) ?? []), span])
/** Traces linked to a trace (a span of theirs links to it). */
const linked = new Map<string, Set<string>>()
for (const span of spans) {
  for (const link of span.links) linked.set(link.traceId, (linked.get(link.traceId) ?? new Set()).add(span.traceId))
}

const roots = spans
  .filter((s) => s.name === 'sip.feature_code' && s.attributes['flexseat.feature'] === 'login' && s.parentSpanId === undefined)
  .sort((a, b) => a.start - b.start)
  .slice(Number(values.skip))
const rows = new Map<string, { order: number[]; offsets: number[]; durations: number[] }>()
for (const root of roots) {
  const traces = [root.traceId, ...(linked.get(root.traceId) ?? [])]
  const mine = traces.flatMap((id) => byTrace.get(id) ?? []).sort((a, b) => a.start - b.start)
  const seen = new Map<string, number>()
  mine.forEach((span, i) => {
    const base = `${span.service} ${span.kind === 2 ? '→' : span.kind === 1 ? '←' : ' '} ${span.name}${span.traceId === root.traceId ? '' : ' (linked)'}`
    const n = (seen.get(base) ?? 0) + 1
    seen.set(base, n)
    const label = n === 1 ? base : `${base} #${n}`
    const row = rows.get(label) ?? { order: [], offsets: [], durations: [] }
    row.order.push(i)
    row.offsets.push(span.start - root.start)
    row.durations.push(span.end - span.start)
    rows.set(label, row)
  })
}
const fmt = (x: number): string => x.toFixed(1).padStart(7)
console.log(`${roots.length} sign-ins (the first ${values.skip} skipped); ms, median / p99 (→ client span, ← server span)`)
console.log(`${'start'.padStart(7)} ${''.padStart(7)}  ${'duration'.padStart(7)} ${''.padStart(7)}  ${'n'.padStart(4)}  span`)
for (const [label, row] of [...rows].sort((a, b) => percentile(a[1].offsets, 50) - percentile(b[1].offsets, 50))) {
  if (row.offsets.length < roots.length / 4) continue
  console.log(`${fmt(percentile(row.offsets, 50))} ${fmt(percentile(row.offsets, 99))}  ${fmt(percentile(row.durations, 50))} ${fmt(percentile(row.durations, 99))}  ${String(row.offsets.length).padStart(4)}  ${label}`)
}

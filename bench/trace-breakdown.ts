/**
 * Where a `*51` sign-in's time goes, from the spans of a run of bench/sip-node.ts with
 * `--span-file <path>` (FLEXSEAT_TEST_SPAN_FILE: every SIP node and registry appends its finished
 * spans there, gRPC client and server spans included, etcd's calls among them).
 *
 *   npx tsx bench/trace-breakdown.ts <span file> [--skip 2] [--steps]
 *
 * `--steps` prints instead the takeover's steps, one after the other, as docs/PERFORMANCE.md
 * accounts for them ("Where a `*51` sign-in's milliseconds go"): the hop to the desk's registry,
 * the PIN check's read, the scrypt, the forward to the leader and its read (when the desk's
 * registry follows), the takeover transaction, the old node's apply, its acknowledgement's hops,
 * read and completion transaction, the Login's wake-up and the answer to the phone (median, p90).
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

const { values, positionals } = parseArgs({ allowPositionals: true, options: { skip: { type: 'string', default: '2' }, steps: { type: 'boolean', default: false } } })
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
const fmt = (x: number): string => x.toFixed(1).padStart(7)
if (values.steps) {
  printSteps()
  process.exit(0)
}

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
console.log(`${roots.length} sign-ins (the first ${values.skip} skipped); ms, median / p99 (→ client span, ← server span)`)
console.log(`${'start'.padStart(7)} ${''.padStart(7)}  ${'duration'.padStart(7)} ${''.padStart(7)}  ${'n'.padStart(4)}  span`)
for (const [label, row] of [...rows].sort((a, b) => percentile(a[1].offsets, 50) - percentile(b[1].offsets, 50))) {
  if (row.offsets.length < roots.length / 4) continue
  console.log(`${fmt(percentile(row.offsets, 50))} ${fmt(percentile(row.offsets, 99))}  ${fmt(percentile(row.durations, 50))} ${fmt(percentile(row.durations, 99))}  ${String(row.offsets.length).padStart(4)}  ${label}`)
}

/** The takeover's steps, in order (see the file comment); sign-ins without a linked revocation are left out. */
function printSteps(): void {
  const steps = new Map<string, number[]>()
  const add = (step: string, ms: number): void => {
    if (Number.isFinite(ms)) steps.set(step, [...(steps.get(step) ?? []), ms])
  }
  const isEtcd = (s: SpanRecord): boolean => s.name.startsWith('grpc.etcdserverpb.KV/')
  let counted = 0
  for (const root of roots) {
    const own = (byTrace.get(root.traceId) ?? []).sort((a, b) => a.start - b.start)
    const theirs = [...(linked.get(root.traceId) ?? [])].flatMap((id) => byTrace.get(id) ?? []).sort((a, b) => a.start - b.start)
    const logins = own.filter((s) => s.name === 'registry.Login')
    const takeover = own.filter((s) => s.name === 'etcd.txn').at(-1)
    const apply = theirs.find((s) => s.name === 'seat.revocation_apply')
    const acks = theirs.filter((s) => s.name === 'registry.AckRevocations')
    const completion = theirs.filter((s) => s.name === 'etcd.txn').at(-1)
    const first = logins[0]
    const leader = logins.at(-1)
    if (!first || !leader || !takeover || !apply || acks.length === 0 || !completion) continue
    counted += 1
    const forwarded = logins.length > 1
    // The desk's registry's first read (the PIN check; at the leader, with the history keys' range beside it).
    const reads = own.filter((s) => isEtcd(s) && s.start >= first.start && s.end <= (forwarded ? leader.start : takeover.start))
    const pinRead = reads[0]
    if (!pinRead) continue
    const pinReadEnd = Math.max(...reads.filter((s) => s.start <= pinRead.end).map((s) => s.end))
    add('1. node → the desk\'s registry', first.start - root.start)
    add('2. PIN check read (at the leader: the login\'s read, the history range beside it)', pinReadEnd - first.start)
    if (forwarded) {
      const forward = own.find((s) => s.name === 'grpc.flexseat.v1.SeatService/Login' && s.kind === 2 && s.service === 'flexseat-registry' && s.start >= pinReadEnd)
      if (forward) {
        add('3. scrypt (follower)', forward.start - pinReadEnd)
        add('4. forward to the leader', leader.start - forward.start)
        add('5. the leader\'s login read', takeover.start - leader.start)
      }
    } else {
      add('3. scrypt (leader)', takeover.start - pinReadEnd)
    }
    add('6. takeover transaction (quorum write)', takeover.end - takeover.start)
    add('7. seat watch → the old node applies the move', apply.start - takeover.end)
    add('8. old node → its registry (AckRevocations)', acks[0]!.start - apply.start)
    if (acks.length > 1) add('9. ack forwarded to the leader', acks.at(-1)!.start - acks[0]!.start)
    add('10. the ack\'s read', completion.start - acks.at(-1)!.start)
    add('11. completion transaction (quorum write)', completion.end - completion.start)
    add('12. the leader\'s watch wakes the Login', leader.end - completion.end)
    add('13. answer: leader (→ follower) → node → final response', root.end - leader.end)
    add('total: authenticated INVITE at the node → final response', root.end - root.start)
  }
  console.log(`${counted} takeovers (the first ${values.skip} sign-ins skipped); ms, median / p90 (n)`)
  const order = (label: string): number => (label.startsWith('total') ? 99 : Number.parseFloat(label))
  for (const [label, ms] of [...steps].sort((a, b) => order(a[0]) - order(b[0]))) {
    console.log(`${fmt(percentile(ms, 50))} ${fmt(percentile(ms, 90))}  ${String(ms.length).padStart(4)}  ${label}`)
  }
}

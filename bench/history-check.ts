/**
 * The history checker's linearizability search (packages/history-check, WGL with memoization):
 * how fast it checks a chaos run's history. Histories are generated from real concurrent
 * executions of the seat model (each operation takes effect at an instant inside its interval,
 * so every history is linearizable and the search must find an order), shaped like the chaos
 * workload: `--clients` processes each doing one operation at a time on a hot set of
 * `--workers` workers and `--desks` desks (logins 40 %, logouts 10 %, reads 50 %), with a share
 * of indeterminate operations (`--info`, default 3 %: timeouts, which may take effect any time
 * later or never). Prints per history size: operations, components, search steps, time,
 * operations checked per second, and the process' peak RSS.
 *
 *   npx tsc -b packages/history-check && npx tsx bench/history-check.ts [--ops 1000,3000,10000]
 *       [--clients 24] [--workers 8] [--desks 6] [--info 0.03] [--think 0] [--seed 1]
 *
 * `--think`: a client's mean pause between two operations (ms; the chaos workload's default is 400).
 */
import { parseArgs } from 'node:util'
import { checkSeatLinearizability, type Operation } from '@flexseat/history-check'


const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '1000,3000,10000' },
    clients: { type: 'string', default: '24' },
    workers: { type: 'string', default: '8' },
    desks: { type: 'string', default: '6' },
    info: { type: 'string', default: '0.03' },
    seed: { type: 'string', default: '1' },
    think: { type: 'string', default: '0' },
  },
})

let state = Number(values.seed) >>> 0 || 1
const rnd = (): number => {
  state ^= state << 13
  state ^= state >>> 17
  state ^= state << 5
  return (state >>> 0) / 4294967296
}
const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!

/** A linearizable history of `n` operations from `clients` concurrent processes. */
function generate(n: number, clients: number, workers: string[], desks: string[], infoShare: number, think: number): Operation[] {
  const free = new Array<number>(clients).fill(0)
  const planned: { op: Operation; at: number; effect: boolean }[] = []
  for (let i = 0; i < n; i++) {
    const c = i % clients
    const invokeMs = free[c]! + rnd() * 5 + rnd() * 2 * think
    const length = 5 + rnd() * 60
    const info = rnd() < infoShare
    const r = rnd()
    const kind: Operation['kind'] = r < 0.4 ? 'login' : r < 0.5 ? 'logout' : 'read'
    const op: Operation = { id: `op-${i}`, process: `grpc:${c}`, kind, userId: pick(workers), deviceId: kind === 'login' ? pick(desks) : '', via: 'grpc', invokeMs, completeMs: info ? null : invokeMs + length, outcome: info ? 'info' : 'ok' }
    // An indeterminate write takes effect (70 %) at some instant after its call, possibly long after.
    const at = info ? invokeMs + rnd() * length * 5 : invokeMs + rnd() * length
    planned.push({ op, at, effect: !info || (kind !== 'read' && rnd() < 0.7) })
    // A client whose operation timed out moves on (it does not wait for it).
    free[c] = invokeMs + length
  }
  const seat = new Map<string, string>()
  for (const p of [...planned].sort((a, b) => a.at - b.at)) {
    const { op } = p
    if (op.kind === 'read') op.result = { deviceId: seat.get(op.userId) ?? null }
    else if (!p.effect) continue
    else if (op.kind === 'login') {
      for (const [w, d] of seat) if (d === op.deviceId) seat.delete(w)
      seat.set(op.userId, op.deviceId)
    } else seat.delete(op.userId)
  }
  return planned.map((p) => p.op)
}

const workers = Array.from({ length: Number(values.workers) }, (_, i) => `w${i}`)
const desks = Array.from({ length: Number(values.desks) }, (_, i) => `d${i}`)
console.log(`clients ${values.clients} (think ${values.think} ms on average), hot set ${workers.length} workers × ${desks.length} desks, ${Number(values.info) * 100} % indeterminate`)
console.log('ops      components  steps        time ms   ops/s      result   rss MiB')
for (const n of values.ops!.split(',').map(Number)) {
  const ops = generate(n, Number(values.clients), workers, desks, Number(values.info), Number(values.think))
  const started = performance.now()
  const res = checkSeatLinearizability(ops, { maxSteps: 5_000_000 })
  const ms = performance.now() - started
  const steps = res.components.reduce((s, c) => s + c.steps, 0)
  const verdict = res.violations.length > 0 ? 'VIOLATION' : res.unknown.length > 0 ? 'unknown' : 'ok'
  console.log(`${String(n).padEnd(8)} ${String(res.components.length).padEnd(11)} ${String(steps).padEnd(12)} ${ms.toFixed(0).padStart(7)}   ${Math.round(n / (ms / 1000)).toString().padEnd(10)} ${verdict.padEnd(8)} ${(process.memoryUsage().rss / 1048576).toFixed(0)}`)
}

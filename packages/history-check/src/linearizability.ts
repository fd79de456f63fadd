/**
 * Linearizability of the seat: the clients' logins, logouts and reads must be explainable by one
 * sequential order, consistent with real time, of a map worker → desk:
 *
 * - login(u, d): u sits at d; whoever else sat at d is unseated (a bump); u's previous desk is free;
 * - logout(u): u has no seat (idempotent: a logout of a worker not seated is ok);
 * - a logout with a desk (`*51` alone at a seated phone: the SIP node logs out whoever sits there,
 *   whoever the client believed it was): whoever sits at the desk has no seat;
 * - read(u) → r: u's seat is at r (null: none).
 *
 * Which operations enter: ok and info logins and logouts, ok reads. A `fail` did not take effect
 * (the workload records an outcome it cannot be sure of as `info`), so it is left out. An `info`
 * write, or one that never completed, has return time +Infinity: it may take effect at any point
 * after its call, or never. An info read constrains nothing and is left out.
 *
 * Partition (P-compositionality, Herlihy & Wing): a worker's seat is not an object of its own,
 * because a login of B at desk D unseats A from D. So the history is split by the connected
 * components of the graph whose nodes are workers and desks, with an edge u–d for every login of u
 * at d (whatever its outcome) and for every seat held before the run. Sound: within one
 * component the model above is the whole map restricted to its workers, and no operation of
 * another component can change that restriction: a login of v at d changes the seat of v, and of
 * whoever sits at d; a worker of this component only ever sits at a desk of this component (the
 * desk it held before the run, or one it logged in at), and v is not of this component. So the
 * whole history is linearizable iff every component's is (the map is the product of its
 * components' restrictions; composing their linearizations by real time is Herlihy & Wing's
 * locality theorem). Seats ended by a seat policy (time limit, daily, idle) are outside the model:
 * run the workload without seat policies.
 */
import type { Operation, Violation } from './history'
import { checkLinearizable, type WglOp, type WglResult } from './wgl'

export const LINEARIZABILITY = 'linearizability'

export interface LinearizabilityOptions {
  /** Where workers sat before the run (absent: not seated). */
  initialSeats?: ReadonlyMap<string, string>
  /** Search steps per component before giving up with `unknown` (default 2,000,000). */
  maxSteps?: number
  /**
   * For indeterminate writes: the latest instant at which they can have taken effect, if they did
   * (indeterminate.ts, from etcd's history). Such a write may take effect between its call and
   * then, or not at all; without it, at any instant after its call, or not at all.
   */
  effectBy?: ReadonlyMap<string, number>
  /**
   * Indeterminate writes etcd shows took effect (their request record holds a response): with a
   * bound in `effectBy` they must take effect by then (an operation that returned then, as far as
   * the search goes), not "or never".
   */
  tookEffect?: ReadonlySet<string>
}

export interface LinearizabilityResult {
  violations: Violation[]
  /** Operations that entered the check. */
  checked: number
  /** Components the search gave up on (their step bound ran out): neither pass nor failure. */
  unknown: { message: string }[]
  /** Per component: workers, operations and search steps (for the figures). */
  components: { workers: string[]; ops: number; steps: number; result: 'ok' | 'illegal' | 'unknown' }[]
}

/** The operations of the model, and their times. */
function relevant(ops: readonly Operation[]): Operation[] {
  return ops.filter((op) => {
    if (op.outcome === 'fail') return false
    if (op.kind === 'read') return op.outcome === 'ok' && op.completeMs !== null && op.result !== undefined
    return true
  })
}

class UnionFind {
  readonly parent = new Map<string, string>()
  find(x: string): string {
    let root = x
    while (this.parent.has(root) && this.parent.get(root) !== root) root = this.parent.get(root)!
    if (!this.parent.has(root)) this.parent.set(root, root)
    let cur = x
    while (cur !== root) {
      const next = this.parent.get(cur) ?? root
      this.parent.set(cur, root)
      cur = next
    }
    return root
  }
  union(a: string, b: string): void {
    const ra = this.find(a)
    const rb = this.find(b)
    if (ra !== rb) this.parent.set(ra, rb)
  }
}

/** Checks the seat's linearizability, component by component. */
export function checkSeatLinearizability(ops: readonly Operation[], options: LinearizabilityOptions = {}): LinearizabilityResult {
  const maxSteps = options.maxSteps ?? 2_000_000
  const initial = options.initialSeats ?? new Map<string, string>()
  const effectBy = options.effectBy ?? new Map<string, number>()
  const tookEffect = options.tookEffect ?? new Set<string>()
  const used = relevant(ops)
  const uf = new UnionFind()
  const W = (u: string) => `w:${u}`
  const D = (d: string) => `d:${d}`
  for (const op of ops) {
    uf.find(W(op.userId))
    if (op.kind !== 'read' && op.deviceId !== '') uf.union(W(op.userId), D(op.deviceId))
  }
  for (const [user, desk] of initial) uf.union(W(user), D(desk))
  const groups = new Map<string, Operation[]>()
  for (const op of used) {
    const root = uf.find(W(op.userId))
    const list = groups.get(root)
    if (list) list.push(op)
    else groups.set(root, [op])
  }
  const result: LinearizabilityResult = { violations: [], checked: used.length, unknown: [], components: [] }
  for (const group of groups.values()) {
    const workers = [...new Set(group.map((op) => op.userId))].sort()
    const report = (ops: Operation[], outcome: Extract<WglResult, { result: 'illegal' }>, whose: string) => {
      const stuck = ops[outcome.stuckAt]!
      const t = stuck.completeMs ?? stuck.invokeMs
      // The operations concurrent with the one the search could not get past: the likely culprits.
      const around = ops.filter((op) => op.invokeMs <= t && (op.completeMs === null || op.outcome !== 'ok' || op.completeMs >= stuck.invokeMs)).slice(0, 12)
      result.violations.push({
        checker: LINEARIZABILITY,
        message: `${whose}: no order of the seat's operations explains the history; the longest explained prefix holds ${outcome.deepest} of ${ops.length} operations and cannot pass ${describe(stuck)}`,
        atMs: t,
        ops: [stuck.id, ...around.map((op) => op.id).filter((id) => id !== stuck.id)],
      })
    }
    // First each worker's projection: its own operations and the logins of others at desks it
    // may sit at (which may unseat it). A projection that fails is a violation of the whole
    // (restricting any linearization of the whole to a projection's operations linearizes the
    // projection); one that passes proves nothing about the whole, so the component is searched
    // whole afterwards. Projections are small and find most violations fast.
    let steps = 0
    let failed = false
    const undecided: string[] = []
    if (workers.length > 1) {
      for (const w of workers) {
        const desks = new Set(group.filter((op) => op.kind === 'login' && op.userId === w).map((op) => op.deviceId))
        const own = initial.get(w)
        if (own !== undefined) desks.add(own)
        const ops = group.filter((op) => op.userId === w || (op.kind !== 'read' && desks.has(op.deviceId)))
        const outcome = search(ops, [w], initial, maxSteps, effectBy, tookEffect)
        steps += outcome.steps
        if (outcome.result === 'illegal') {
          report(ops, outcome, `worker ${w} (with the logins of others at its desks)`)
          failed = true
          break
        }
        if (outcome.result === 'unknown') undecided.push(w)
      }
    }
    if (failed) {
      result.components.push({ workers, ops: group.length, steps, result: 'illegal' })
      continue
    }
    const outcome = search(group, workers, initial, maxSteps, effectBy, tookEffect)
    steps += outcome.steps
    result.components.push({ workers, ops: group.length, steps, result: outcome.result })
    if (outcome.result === 'unknown') {
      const projections = workers.length === 1 ? '' : undecided.length === 0 ? "each worker's projection passed, but " : `the projections of ${undecided.join(', ')} also reached the bound, and `
      result.unknown.push({ message: `workers ${workers.join(', ')}: ${group.length} operations; ${projections}the search of the whole reached its bound of ${maxSteps} steps: unknown (neither pass nor failure)` })
    } else if (outcome.result === 'illegal') {
      report(group, outcome, `workers ${workers.join(', ')}`)
    }
  }
  return result
}

/**
 * The WGL search over `ops`, tracking the seats of `tracked` workers: their logins, logouts and
 * reads act as in the model; a login of any other worker at desk d, and a logout at desk d, only
 * unseat a tracked worker sitting at d (other operations of untracked workers must not be in
 * `ops`).
 */
function search(ops: readonly Operation[], tracked: readonly string[], initial: ReadonlyMap<string, string>, maxSteps: number, effectBy: ReadonlyMap<string, number>, tookEffect: ReadonlySet<string>): WglResult {
  const workerIndex = new Map(tracked.map((w, i) => [w, i]))
  const deskIndex = new Map<string, number>()
  const deskOf = (d: string): number => {
    let i = deskIndex.get(d)
    if (i === undefined) {
      i = deskIndex.size
      deskIndex.set(d, i)
    }
    return i
  }
  const init = new Int32Array(tracked.length).fill(-1)
  tracked.forEach((w, i) => {
    const desk = initial.get(w)
    if (desk !== undefined) init[i] = deskOf(desk)
  })
  // Each operation as (kind, worker slot, desk index): 0 login, 1 logout, 2 read (desk -1: none),
  // 3 whoever sits at the desk is unseated: a login of an untracked worker, or a logout at a desk.
  const kind = new Int8Array(ops.length)
  const slot = new Int32Array(ops.length)
  const arg = new Int32Array(ops.length)
  const wgl: WglOp[] = ops.map((op, i) => {
    const w = workerIndex.get(op.userId)
    slot[i] = w ?? -1
    const atDesk = op.kind === 'logout' && op.deviceId !== ''
    kind[i] = w === undefined || atDesk ? 3 : op.kind === 'login' ? 0 : op.kind === 'logout' ? 1 : 2
    arg[i] = op.kind !== 'read' ? (op.deviceId === '' ? -1 : deskOf(op.deviceId)) : op.result!.deviceId !== null ? deskOf(op.result!.deviceId) : -1
    if (op.outcome === 'ok' && op.completeMs !== null) return { call: op.invokeMs, ret: op.completeMs }
    const by = effectBy.get(op.id)
    if (by === undefined) return { call: op.invokeMs, ret: Number.POSITIVE_INFINITY }
    const ret = Math.max(by, op.invokeMs)
    return tookEffect.has(op.id) ? { call: op.invokeMs, ret } : { call: op.invokeMs, ret, optional: true }
  })
  const model = {
    init,
    step(state: Int32Array, i: number): Int32Array | undefined {
      const w = slot[i]!
      const d = arg[i]!
      switch (kind[i]) {
        case 2:
          return state[w] === d ? state : undefined
        case 1: {
          if (state[w] === -1) return state
          const next = state.slice()
          next[w] = -1
          return next
        }
        case 3: {
          if (!state.includes(d)) return state
          const next = state.slice()
          for (let v = 0; v < next.length; v++) if (next[v] === d) next[v] = -1
          return next
        }
        default: {
          if (state[w] === d && state.indexOf(d) === state.lastIndexOf(d)) return state
          const next = state.slice()
          for (let v = 0; v < next.length; v++) if (next[v] === d) next[v] = -1
          next[w] = d
          return next
        }
      }
    },
  }
  // Alike operations (the same effect on the model) for the search's symmetry reduction: a
  // "whoever sits at d" op (kind 3) is alike whoever's it is.
  const desks = deskIndex.size + 1
  return checkLinearizable(wgl, model, maxSteps, (i) => ((kind[i]! * (tracked.length + 1) + (kind[i] === 3 ? -1 : slot[i]!) + 1) * desks + arg[i]! + 1))
}

/** One operation in words, for messages. */
export function describe(op: Operation): string {
  const when = `[${op.invokeMs}, ${op.completeMs ?? '∞'}]`
  const what = op.kind === 'login' ? `login of ${op.userId} at ${op.deviceId}` : op.kind === 'logout' ? `logout of ${op.userId}` : `read of ${op.userId} → ${op.result?.deviceId ?? 'not seated'}`
  return `${what} ${when} (${op.id}, ${op.outcome}, ${op.process})`
}

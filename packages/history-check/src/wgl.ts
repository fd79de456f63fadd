/**
 * A linearizability checker: Wing & Gong's search with Lowe's memoization, as porcupine
 * (anishathalye/porcupine, checker.go) implements it.
 * @see G. Lowe, "Testing for linearizability", Concurrency and Computation 29(4), 2017.
 * @see J. M. Wing and C. Gong, "Testing and verifying concurrent objects", JPDC 17(1), 1993.
 *
 * The history is a list of operations with call and return times; an operation that never
 * returned (or whose outcome is unknown) has return time +Infinity: it may take effect at any
 * point after its call, and, placed after every other operation, it is the same as never taking
 * effect (nothing observes the state after the last operation).
 *
 * The search walks a doubly linked list of call and return entries in time order: at a call it
 * tries to linearize that operation now (the model's step must accept it), lifting the call and
 * its return out of the list; reaching a return whose operation is not linearized yet means the
 * choices so far were wrong, so it backtracks. Memoization: a (set of linearized operations,
 * state) pair already reached cannot lead anywhere new, so it is skipped. The pair is kept as a
 * hash (Zobrist: XOR of one random 64-bit word per linearized operation, plus the state's hash;
 * 85 bits with the count). A hash collision could only skip a configuration that was not
 * explored, i.e. miss a linearization: a collision can turn a pass into a reported failure, never
 * hide a failure.
 */

/** A sequential model over a state of small integers (one per slot). */
export interface IntModel {
  /** The state before the history. */
  init: Int32Array
  /** The state after `op` from `state`, or undefined when the model does not allow `op` there. May return `state` itself when nothing changes. */
  step(state: Int32Array, op: number): Int32Array | undefined
}

export interface WglOp {
  call: number
  /** +Infinity: never returned / indeterminate. */
  ret: number
  /**
   * May take no effect at all (an indeterminate write whose latest possible effect is known):
   * reaching its return unlinearized, the search may drop it instead of backtracking.
   */
  optional?: boolean
}

export type WglResult =
  | { result: 'ok'; steps: number }
  | { result: 'illegal'; steps: number; /** The operation whose return could not be passed at the deepest point the search reached. */ stuckAt: number; /** How many operations the longest partial linearization held. */ deepest: number }
  | { result: 'unknown'; steps: number }

interface Entry {
  op: number
  isCall: boolean
  /** A call's return; a return's call. */
  match: Entry | undefined
  prev: Entry | undefined
  next: Entry | undefined
}

/** A deterministic 32-bit generator (xorshift), so runs are reproducible. */
function randoms(seed: number): () => number {
  let x = seed | 0 || 0x9e3779b9
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return x >>> 0
  }
}

/**
 * Checks `ops` (indices into `model.step`) for linearizability against `model`. Gives up after
 * `maxSteps` search steps (result `unknown`: neither pass nor failure).
 */
export function checkLinearizable(ops: readonly WglOp[], model: IntModel, maxSteps: number, classOf?: (op: number) => number): WglResult {
  const n = ops.length
  if (n === 0) return { result: 'ok', steps: 0 }
  // Symmetry: operations that never returned (ret +Infinity) and are alike (same class: the same
  // effect on the model) are interchangeable, so they are linearized only in the order of their
  // calls. Sound and complete: in any linearization, the i-th of a class to take effect does so
  // after at least i of the class were called, so the i-th called can take its place, with the
  // same effect and no return to meet. This turns 2^k subsets of k alike operations into k + 1.
  const cls = new Int32Array(n).fill(-1)
  const order: number[][] = []
  const rank = new Int32Array(n)
  if (classOf) {
    const ids = new Map<number, number>()
    const byCall = [...ops.keys()].filter((i) => ops[i]!.ret === Number.POSITIVE_INFINITY).sort((a, b) => ops[a]!.call - ops[b]!.call || a - b)
    for (const i of byCall) {
      const key = classOf(i)
      if (key < 0) continue
      let c = ids.get(key)
      if (c === undefined) {
        c = order.length
        ids.set(key, c)
        order.push([])
      }
      cls[i] = c
      rank[i] = order[c]!.length
      order[c]!.push(i)
    }
  }
  const fired = new Int32Array(order.length)
  // Entries in time order; at equal times calls first, so operations touching at an instant are
  // concurrent (the permissive reading: never a false failure from clock resolution).
  const events: Entry[] = []
  for (let i = 0; i < n; i++) {
    const ret: Entry = { op: i, isCall: false, match: undefined, prev: undefined, next: undefined }
    const call: Entry = { op: i, isCall: true, match: ret, prev: undefined, next: undefined }
    ret.match = call
    events.push(call, ret)
  }
  const time = (e: Entry) => (e.isCall ? ops[e.op]!.call : ops[e.op]!.ret)
  events.sort((a, b) => time(a) - time(b) || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1))
  const head: Entry = { op: -1, isCall: false, match: undefined, prev: undefined, next: undefined }
  let last = head
  for (const e of events) {
    last.next = e
    e.prev = last
    last = e
  }

  const rnd = randoms(0x5eed1234)
  const zA = new Uint32Array(n)
  const zB = new Uint32Array(n)
  for (let i = 0; i < n; i++) {
    zA[i] = rnd()
    zB[i] = rnd()
  }
  const slots = model.init.length
  const stateHash = (s: Int32Array): [number, number] => {
    let a = 0x811c9dc5
    let b = 0x01000193
    for (let i = 0; i < slots; i++) {
      const v = s[i]! + 1
      a = Math.imul(a ^ (v + i * 0x9e37), 0x01000193) >>> 0
      b = Math.imul(b ^ (v * 31 + i), 0x5bd1e995) >>> 0
      b ^= b >>> 15
    }
    return [a, b]
  }
  // The memo. Operations that never returned and have a class (`open` below) are not in the set's
  // hash: they are taken in call order, so how many of each class were taken says which; and
  // having taken fewer of them is never worse (the others stay available, or are dropped), so a
  // configuration whose counts are all at least those of one already reached with the same
  // other operations and state is skipped (subsumption: whatever it can still do, the one
  // reached can do without those extra writes).
  const open = (op: number) => ops[op]!.ret === Number.POSITIVE_INFINITY && cls[op]! >= 0
  let linA = 0
  let linB = 0
  let count = 0
  let closed = 0
  const cache = new Map<number, { b: number; fired: Int32Array | undefined }[]>()
  const remember = (a: number, b: number, c: number, counts: Int32Array): boolean => {
    const key = c * 4294967296 + a
    let list = cache.get(key)
    if (list === undefined) {
      list = []
      cache.set(key, list)
    }
    for (const seen of list) {
      if (seen.b !== b) continue
      if (seen.fired === undefined) return false
      let covered = true
      for (let i = 0; i < counts.length; i++) {
        if (seen.fired[i]! > counts[i]!) {
          covered = false
          break
        }
      }
      if (covered) return false
    }
    list.push({ b, fired: counts.length === 0 ? undefined : counts.slice() })
    return true
  }
  const lift = (e: Entry) => {
    e.prev!.next = e.next
    if (e.next) e.next.prev = e.prev
    const m = e.match!
    m.prev!.next = m.next
    if (m.next) m.next.prev = m.prev
  }
  const unlift = (e: Entry) => {
    const m = e.match!
    m.prev!.next = m
    if (m.next) m.next.prev = m
    e.prev!.next = e
    if (e.next) e.next.prev = e
  }

  let state = model.init
  const stack: { entry: Entry; state: Int32Array; skipped: boolean; linA: number; linB: number; closed: number }[] = []
  let entry = head.next
  let steps = 0
  let deepest = 0
  let stuckAt = -1
  while (head.next !== undefined) {
    if (++steps > maxSteps) return { result: 'unknown', steps }
    // Every call's return follows it in the list, so the walk meets a return before the end.
    if (entry === undefined) throw new Error('linearizability search walked off the history (a call without its return)')
    if (entry.isCall) {
      const c = cls[entry.op]!
      if (c >= 0 && fired[c] !== rank[entry.op]) {
        // An alike operation called earlier has not taken effect yet: it goes first.
        entry = entry.next
        continue
      }
      const next = model.step(state, entry.op)
      // A write that never returned and changes nothing here is better left for later or never
      // (dropping it from any linearization leaves a linearization: nothing waits for it).
      const idle = next === state && ops[entry.op]!.ret === Number.POSITIVE_INFINITY
      if (next !== undefined && !idle) {
        const [ha, hb] = stateHash(next)
        const isOpen = open(entry.op)
        const a = isOpen ? linA : (linA ^ zA[entry.op]!) >>> 0
        const b = isOpen ? linB : (linB ^ zB[entry.op]!) >>> 0
        const k = isOpen ? closed : closed + 1
        if (isOpen) fired[c]!++
        if (remember((a ^ ha) >>> 0, (b ^ hb) >>> 0, k, fired)) {
          stack.push({ entry, state, skipped: false, linA, linB, closed })
          state = next
          linA = a
          linB = b
          closed = k
          count++
          lift(entry)
          entry = head.next
          continue
        }
        if (isOpen) fired[c]!--
      }
      entry = entry.next
    } else {
      // Every call is placed and every return met but those of writes that never returned: they
      // take no effect. Done.
      if (ops[entry.op]!.ret === Number.POSITIVE_INFINITY) return { result: 'ok', steps }
      if (ops[entry.op]!.optional === true) {
        // Dropped: it took no effect (the state stays; the set counts it as done).
        const call = entry.match!
        const [ha, hb] = stateHash(state)
        const a = (linA ^ zA[entry.op]!) >>> 0
        const b = (linB ^ zB[entry.op]!) >>> 0
        if (remember((a ^ ha) >>> 0, (b ^ hb) >>> 0, closed + 1, fired)) {
          stack.push({ entry: call, state, skipped: true, linA, linB, closed })
          linA = a
          linB = b
          closed++
          count++
          lift(call)
          entry = head.next
          continue
        }
      }
      if (count >= deepest) {
        deepest = count
        stuckAt = entry.op
      }
      const top = stack.pop()
      if (top === undefined) return { result: 'illegal', steps, stuckAt, deepest }
      entry = top.entry
      state = top.state
      if (!top.skipped && open(entry.op)) fired[cls[entry.op]!]!--
      linA = top.linA
      linB = top.linB
      closed = top.closed
      count--
      unlift(entry)
      // After undoing a drop, meet the return again: the drop is now remembered, so it backtracks on.
      entry = top.skipped ? entry.match : entry.next
    }
  }
  return { result: 'ok', steps }
}

import t from 'tap'
import fc from 'fast-check'
import { checkLinearizable, checkSeatLinearizability, type Operation } from '@flexseat/history-check'
import { login, logout, read } from '../helpers/history-check'

// The seat's linearizability checker (WGL with memoization, linearizability.ts, wgl.ts) on
// synthetic histories: valid ones pass, stale reads and lost effects are caught, indeterminate
// operations may take effect or not (once), and the search bound answers unknown, not pass.

const check = (ops: Operation[], initial?: Map<string, string>) => checkSeatLinearizability(ops, initial ? { initialSeats: initial } : {})

t.test('sequential histories: a read sees the last write, a bump unseats', async (t) => {
  const ok = check([
    login('alice', 'ams-1', [0, 10]),
    read('alice', 'ams-1', [20, 30]),
    login('bob', 'ams-1', [40, 50]),
    read('alice', null, [60, 70]),
    read('bob', 'ams-1', [60, 70]),
    login('alice', 'ber-1', [80, 90]),
    logout('bob', [100, 110]),
    read('bob', null, [120, 130]),
    read('alice', 'ber-1', [120, 130]),
  ])
  t.same(ok.violations, [], 'valid')
  t.equal(ok.checked, 9)
  t.same(ok.unknown, [])
})

t.test('a stale read is caught', async (t) => {
  const stale = check([login('alice', 'ams-1', [0, 10]), read('alice', null, [20, 30], { id: 'stale-read' })])
  t.equal(stale.violations.length, 1, 'one violation')
  t.equal(stale.violations[0]!.checker, 'linearizability')
  t.match(stale.violations[0]!.message, /read of alice → not seated/)
  t.ok(stale.violations[0]!.ops!.includes('stale-read'), 'names the read')
  // A read that saw the bumped worker still seated after the bump completed.
  const afterBump = check([login('alice', 'ams-1', [0, 10]), login('bob', 'ams-1', [20, 30]), read('alice', 'ams-1', [40, 50])])
  t.equal(afterBump.violations.length, 1, 'a bump not seen by a later read')
  // A read going back in time: it saw the new desk, then a later read saw the old.
  const back = check([login('alice', 'ams-1', [0, 10]), login('alice', 'ber-1', [20, 100]), read('alice', 'ber-1', [30, 40]), read('alice', 'ams-1', [50, 60])])
  t.equal(back.violations.length, 1, 'no order explains a read of the old desk after one of the new')
})

t.test('concurrent operations may take effect in either order', async (t) => {
  const ops = [login('alice', 'ams-1', [0, 100]), login('alice', 'ber-1', [10, 90]), read('alice', 'ams-1', [95, 120]), read('alice', 'ams-1', [130, 140])]
  t.same(check(ops).violations, [], 'ber-1 then ams-1')
  // The read overlapping a login may see before or after it.
  t.same(check([login('alice', 'ams-1', [0, 10]), login('alice', 'ber-1', [20, 40]), read('alice', 'ams-1', [25, 35]), read('alice', 'ber-1', [45, 50])]).violations, [])
  // Operations touching at an instant are concurrent.
  t.same(check([login('alice', 'ams-1', [0, 10]), read('alice', null, [10, 20])]).violations, [])
})

t.test('indeterminate operations: at any time after the call, or never; but once', async (t) => {
  t.same(check([login('alice', 'ams-1', [0, null]), read('alice', null, [20, 30]), read('alice', 'ams-1', [40, 50])]).violations, [], 'took effect late')
  t.same(check([login('alice', 'ams-1', [0, null]), read('alice', null, [20, 30]), read('alice', null, [40, 50])]).violations, [], 'never took effect')
  t.same(check([login('alice', 'ams-1', [0, 5], { outcome: 'info' }), read('alice', 'ams-1', [40, 50])]).violations, [], 'an info op with a completion time is indeterminate too')
  const twice = check([login('alice', 'ams-1', [0, null]), read('alice', 'ams-1', [20, 30]), read('alice', null, [40, 50]), read('alice', 'ams-1', [60, 70])])
  t.equal(twice.violations.length, 1, 'an indeterminate login cannot take effect twice')
  const before = check([read('alice', 'ams-1', [0, 10]), login('alice', 'ams-1', [20, null])])
  t.equal(before.violations.length, 1, 'nor before its call')
  t.same(check([login('alice', 'ams-1', [0, 10], { outcome: 'fail' }), read('alice', null, [20, 30])]).violations, [], 'a failed login took no effect')
  t.same(check([login('alice', 'ams-1', [0, 10]), read('alice', 'ber-1', [20, 30], { outcome: 'info' })]).violations, [], 'an indeterminate read constrains nothing')
})

t.test('the state before the run counts', async (t) => {
  t.same(check([read('alice', 'ams-1', [0, 10])], new Map([['alice', 'ams-1']])).violations, [])
  t.equal(check([read('alice', null, [0, 10])], new Map([['alice', 'ams-1']])).violations.length, 1)
  t.equal(check([read('alice', 'ams-1', [0, 10])]).violations.length, 1, 'absent: not seated')
  // bob, seated at ams-1 before the run, is bumped by alice's login there.
  t.same(check([login('alice', 'ams-1', [0, 10]), read('bob', null, [20, 30])], new Map([['bob', 'ams-1']])).violations, [])
})

t.test('components: workers sharing no desk are checked apart; sharing one, together', async (t) => {
  const apart = check([login('alice', 'ams-1', [0, 10]), login('bob', 'ber-1', [0, 10]), read('alice', 'ams-1', [20, 30]), read('bob', 'ber-1', [20, 30])])
  t.equal(apart.components.length, 2)
  const shared = check([login('alice', 'ams-1', [0, 10]), login('bob', 'ams-1', [20, 30]), login('carol', 'chi-1', [0, 10]), read('alice', null, [40, 50])])
  t.equal(shared.components.length, 2, 'alice and bob share ams-1; carol apart')
  t.same(shared.components.map((c) => c.workers).sort(), [['alice', 'bob'], ['carol']])
  // Checked apart, alice's read would be stale; the shared component explains it by the bump.
  t.same(shared.violations, [])
})

t.test('a worker\'s projection finds a violation without the whole search', async (t) => {
  // bob's logins elsewhere are not in alice's projection; carol's login at alice's desk is.
  const ops = [login('alice', 'ams-1', [0, 10]), login('bob', 'ber-1', [0, 10]), login('carol', 'ams-1', [20, 30]), login('bob', 'ams-1', [40, 50]), read('alice', 'ams-1', [60, 70], { id: 'stale' })]
  const res = check(ops)
  t.equal(res.violations.length, 1)
  t.match(res.violations[0]!.message, /^worker alice \(with the logins of others at its desks\): .*read of alice → ams-1/)
  t.equal(res.components[0]!.result, 'illegal')
})

t.test('the search bound answers unknown, never pass', async (t) => {
  // Many concurrent indeterminate logins and a read no order explains.
  const ops: Operation[] = []
  for (let i = 0; i < 12; i++) ops.push(login('alice', `ams-${i}`, [i, null]))
  ops.push(read('alice', 'ber-1', [100, 110]))
  const bounded = checkSeatLinearizability(ops, { maxSteps: 50 })
  t.same(bounded.violations, [])
  t.equal(bounded.unknown.length, 1, 'unknown')
  t.match(bounded.unknown[0]!.message, /reached its bound of 50 steps: unknown/)
  const unbounded = checkSeatLinearizability(ops)
  t.equal(unbounded.violations.length, 1, 'with room, it is a violation')
})

t.test('the WGL core on a register model', async (t) => {
  // slot 0: a register; ops: 0 write 1, 1 read 1, 2 read 0
  const model = {
    init: Int32Array.of(0),
    step: (s: Int32Array, i: number) => (i === 0 ? Int32Array.of(1) : s[0] === [1, 1, 0][i] ? s : undefined),
  }
  t.equal(checkLinearizable([{ call: 0, ret: 10 }, { call: 5, ret: 6 }, { call: 7, ret: 8 }], model, 1000).result, 'illegal', 'read 1 then read 0 while the write is pending')
  t.equal(checkLinearizable([{ call: 0, ret: 10 }, { call: 7, ret: 8 }, { call: 1, ret: 2 }], model, 1000).result, 'ok', 'read 0 then read 1')
})

// Soundness (never a false violation): histories made by real concurrent executions — each
// operation takes effect at an instant inside its interval, results computed at that instant —
// always pass; indeterminate ones take effect at a random later instant or never.
t.test('property: histories of linearizable executions always pass', async (t) => {
  const desks = ['ams-1', 'ams-2', 'ber-1']
  const workers = ['alice', 'bob', 'carol']
  const opArb = fc.record({
    kind: fc.constantFrom('login', 'logout', 'read', 'read'),
    worker: fc.constantFrom(...workers),
    desk: fc.constantFrom(...desks),
    start: fc.integer({ min: 0, max: 1000 }),
    length: fc.integer({ min: 0, max: 200 }),
    point: fc.double({ min: 0, max: 1, noNaN: true }),
    indeterminate: fc.constantFrom(false, false, false, true),
    takesEffect: fc.boolean(),
  })
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (specs) => {
      const timed = specs.map((s, i) => ({ s, i, at: s.start + s.point * s.length }))
      timed.sort((a, b) => a.at - b.at)
      const seat = new Map<string, string>()
      const ops: Operation[] = new Array(specs.length)
      for (const { s, i, at } of timed) {
        const end: [number, number | null] = [s.start, s.indeterminate ? null : s.start + s.length]
        const effect = !s.indeterminate || s.takesEffect
        if (s.kind === 'read') {
          ops[i] = read(s.worker, seat.get(s.worker) ?? null, end, s.indeterminate ? { outcome: 'info' } : {})
        } else if (s.kind === 'login') {
          if (effect) {
            for (const [w, d] of seat) if (d === s.desk) seat.delete(w)
            seat.set(s.worker, s.desk)
          }
          ops[i] = login(s.worker, s.desk, end)
        } else {
          if (effect) seat.delete(s.worker)
          ops[i] = logout(s.worker, end)
        }
        void at
      }
      const res = checkSeatLinearizability(ops)
      return res.violations.length === 0 && res.unknown.length === 0
    }),
    { numRuns: 300 },
  )
  t.pass('300 random executions')
})

// And not vacuous: in a sequential history (no two operations overlap) any wrong read is caught.
t.test('property: a sequential history with one wrong read always fails', async (t) => {
  const desks = ['ams-1', 'ams-2', 'ber-1']
  const workers = ['alice', 'bob']
  const stepArb = fc.record({ kind: fc.constantFrom('login', 'logout', 'read'), worker: fc.constantFrom(...workers), desk: fc.constantFrom(...desks) })
  fc.assert(
    fc.property(fc.array(stepArb, { minLength: 1, maxLength: 30 }), fc.nat(), fc.constantFrom(null, ...desks), (steps, pick, wrong) => {
      const seat = new Map<string, string>()
      const ops: Operation[] = []
      steps.forEach((s, i) => {
        const at: [number, number] = [i * 10, i * 10 + 5]
        if (s.kind === 'login') {
          for (const [w, d] of seat) if (d === s.desk) seat.delete(w)
          seat.set(s.worker, s.desk)
          ops.push(login(s.worker, s.desk, at))
        } else if (s.kind === 'logout') {
          seat.delete(s.worker)
          ops.push(logout(s.worker, at))
        } else ops.push(read(s.worker, seat.get(s.worker) ?? null, at))
      })
      const reads = ops.filter((o) => o.kind === 'read')
      fc.pre(reads.length > 0)
      const target = reads[pick % reads.length]!
      fc.pre(target.result!.deviceId !== wrong)
      target.result = { deviceId: wrong }
      return checkSeatLinearizability(ops).violations.length === 1
    }),
    { numRuns: 300 },
  )
  t.pass('300 corrupted histories caught')
})

t.test('a logout at a desk unseats whoever sits there', async (t) => {
  // The phone believed alice sat there; bob had bumped her; the indeterminate *51 signed bob out.
  const ops = [login('alice', 'ams-1', [0, 10]), login('bob', 'ams-1', [20, 30]), logout('alice', [40, null], { deviceId: 'ams-1', via: 'sip' }), read('bob', null, [60, 70])]
  t.same(check(ops).violations, [], 'bob unseated by the logout at ams-1')
  t.equal(check(ops.map((o) => (o.kind === 'logout' ? { ...o, deviceId: '' } : o))).violations.length, 1, 'a logout of alice alone would not explain it')
})

t.test('an indeterminate write with a known latest effect: by then, or never', async (t) => {
  const lateRead = [login('alice', 'ams-1', [0, null], { id: 'maybe' }), read('alice', null, [60, 70]), read('alice', 'ams-1', [80, 90])]
  t.same(check(lateRead).violations, [], 'without a bound it may take effect late')
  const bounded = checkSeatLinearizability(lateRead, { effectBy: new Map([['maybe', 50]]) })
  t.equal(bounded.violations.length, 1, 'etcd dated every change it could have made before 50: not at 75')
  t.same(checkSeatLinearizability([login('alice', 'ams-1', [0, null], { id: 'maybe' }), read('alice', null, [60, 70]), read('alice', null, [80, 90])], { effectBy: new Map([['maybe', 50]]) }).violations, [], 'or never')
  t.same(checkSeatLinearizability([login('alice', 'ams-1', [0, null], { id: 'maybe' }), read('alice', 'ams-1', [60, 70])], { effectBy: new Map([['maybe', 50]]) }).violations, [], 'or by then')
  // Known to have taken effect (its request record): by then, and not "or never".
  const happened = [login('alice', 'ams-1', [0, null], { id: 'happened' }), read('alice', null, [60, 70])]
  t.same(checkSeatLinearizability(happened, { effectBy: new Map([['happened', 50]]) }).violations, [], 'it may not have happened')
  t.equal(checkSeatLinearizability(happened, { effectBy: new Map([['happened', 50]]), tookEffect: new Set(['happened']) }).violations.length, 1, 'it did, by 50: the read at 60 cannot miss it')
  t.same(checkSeatLinearizability([...happened.slice(0, 1), read('alice', 'ams-1', [60, 70])], { effectBy: new Map([['happened', 50]]), tookEffect: new Set(['happened']) }).violations, [], 'and a read after it sees it')
  // Many of them, each dropped or placed: the search stays small (not 2^n orders).
  const many: Operation[] = []
  const by = new Map<string, number>()
  const seat = new Map<string, string>()
  for (let i = 0; i < 200; i++) {
    const [w, d] = [`w${i % 4}`, `d${i % 6}`]
    many.push(login(w, d, [i * 100, null], { id: `m${i}` }))
    by.set(`m${i}`, i * 100 + 150)
    if (i % 3 === 0) {
      // This one took effect (at i * 100 + 100); the others never did.
      for (const [v, e] of seat) if (e === d) seat.delete(v)
      seat.set(w, d)
    }
    many.push(read(w, seat.get(w) ?? null, [i * 100 + 200, i * 100 + 210]))
  }
  const res = checkSeatLinearizability(many, { effectBy: by })
  t.same(res.unknown, [])
  t.same(res.violations, [])
  t.ok(res.components.every((c) => c.steps < 100_000), `steps: ${res.components.map((c) => c.steps).join(', ')}`)
})

t.test('alike operations that never returned are taken in call order (symmetry), not in every subset', async (t) => {
  // 16 indeterminate logins of alice at ams-1, and reads no order explains (she sits at ams-1 and
  // then not, with no logout): every subset of the 16 would be tried without the reduction.
  const ops: Operation[] = []
  for (let i = 0; i < 16; i++) ops.push(login('alice', 'ams-1', [i, null]))
  ops.push(read('alice', 'ams-1', [100, 110]), read('alice', null, [120, 130]))
  const res = checkSeatLinearizability(ops)
  t.equal(res.violations.length, 1, 'the violation is found')
  t.ok(res.components[0]!.steps < 2_000, `in ${res.components[0]!.steps} steps (2^16 subsets without the reduction)`)
})

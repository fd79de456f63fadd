// The binding reporter with a fake registry client, registrar and lease: changes are sent
// together after a quiet time, at most maxBatch per call, only while the lease is held; a report
// refused with LEASE_HELD (or not getting through) keeps its changes and is tried again; the lease
// becoming active reports every current binding; removals and expiries are reported as removals.
// Each case names the guard it was seen to fail without.
import t from 'tap'
import { EventEmitter } from 'node:events'
import { pino } from 'pino'
import { status } from '@grpc/grpc-js'
import { ErrorCode, type ReportBindingsRequest } from '@flexseat/proto'
import { type Binding, BindingReporter, type BindingReporterOptions, type RegistrarEvents, RegistryCallError } from '@flexseat/sip-node'

const NOW = 1_800_000_000_000

function binding(deviceId: string, over: Partial<Binding> = {}): Binding {
  return { deviceId, contact: `sip:${deviceId}@192.0.2.7:5070`, registered: `sip:${deviceId}@10.0.0.7:5070`, expiresAt: NOW + 600_000, source: 'udp:192.0.2.7:5070', userAgent: 'ua', registeredAt: NOW - 1_000, ...over }
}

class FakeRegistrar extends EventEmitter<RegistrarEvents> {
  readonly live = new Map<string, Binding>()
  bindings(): Binding[] {
    return [...this.live.values()]
  }
  bind(b: Binding): void {
    this.live.set(b.deviceId, b)
    this.emit('bound', b)
  }
  unbind(deviceId: string, why: 'unregistered' | 'registration expired' = 'unregistered'): void {
    this.live.delete(deviceId)
    this.emit('unbound', deviceId, why)
  }
}

const leaseHeldError = () => new RegistryCallError('ReportBindings: not the holder', { code: ErrorCode.ERROR_CODE_LEASE_HELD, grpcCode: status.FAILED_PRECONDITION })

function setup(t: { teardown(fn: () => unknown): void }, options: { held?: boolean; maxBatch?: number; debounceMs?: number } = {}) {
  const registrar = new FakeRegistrar()
  const calls: ReportBindingsRequest[] = []
  const failures: Error[] = []
  const client = {
    async reportBindings(req: ReportBindingsRequest) {
      const failure = failures.shift()
      if (failure !== undefined) {
        calls.push({ ...req, nodeId: `${req.nodeId} (failed)` })
        throw failure
      }
      calls.push(req)
    },
  }
  let held = options.held ?? true
  const active = new EventEmitter()
  const lease = {
    held: () => held,
    onActive: (listener: () => void) => {
      active.on('active', listener)
      return () => active.off('active', listener)
    },
  }
  const opts: BindingReporterOptions = {
    client,
    siteId: 'amsterdam',
    nodeId: 'amsterdam-1',
    registrar: registrar as unknown as BindingReporterOptions['registrar'],
    lease,
    logger: pino({ level: 'silent' }),
    debounceMs: options.debounceMs ?? 40,
    retry: { initialMs: 30, maxMs: 60 },
    now: () => NOW,
    ...(options.maxBatch === undefined ? {} : { maxBatch: options.maxBatch }),
  }
  const reporter = BindingReporter.start(opts)
  t.teardown(() => reporter.stop())
  const ok = calls as readonly ReportBindingsRequest[]
  return {
    registrar,
    reporter,
    calls: ok,
    succeeded: () => ok.filter((c) => !c.nodeId.endsWith('(failed)')),
    failures,
    setHeld: (value: boolean) => (held = value),
    becomeActive: () => {
      held = true
      active.emit('active')
    },
  }
}

const devices = (req: ReportBindingsRequest | undefined) => ({ set: req?.bindings.map((b) => b.deviceId) ?? [], removed: req?.removedDeviceIds ?? [] })

/** Polls `test` (ref'd timers keep the process up) until it holds; fails after `ms`. */
async function until(test: () => boolean, ms = 2_000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${ms} ms`)
    await sleep(5)
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// Guard tried: the debounce replaced by an immediate send in #queue (three calls, the first at once).
t.test('changes close together are sent in one call after the quiet time', async (t) => {
  const { registrar, calls } = setup(t)
  registrar.bind(binding('desk-1'))
  registrar.bind(binding('desk-2'))
  registrar.unbind('desk-3', 'registration expired')
  await sleep(15)
  t.equal(calls.length, 0, 'nothing before the quiet time')
  await until(() => calls.length === 1)
  t.same(devices(calls[0]), { set: ['desk-1', 'desk-2'], removed: ['desk-3'] })
  t.match(calls[0], { siteId: 'amsterdam', nodeId: 'amsterdam-1' })
  t.same(calls[0]!.bindings[0], {
    deviceId: 'desk-1',
    siteId: 'amsterdam',
    contact: 'sip:desk-1@192.0.2.7:5070',
    source: 'udp:192.0.2.7:5070',
    userAgent: 'ua',
    expiresAt: new Date(NOW + 600_000),
    registeredAt: new Date(NOW - 1_000),
  }, 'the contact is the destination calls go to; the source transport:address:port')
  await sleep(80)
  t.equal(calls.length, 1, 'and only that call')
})

// Guard tried: the 5 × debounce cap in #queue removed (changes every 20 ms never let it send).
t.test('changes that keep coming are still sent within 5 × the quiet time', async (t) => {
  const { registrar, calls } = setup(t, { debounceMs: 40 })
  const started = Date.now()
  for (let i = 0; i < 15 && calls.length === 0; i++) {
    registrar.bind(binding(`desk-${i}`))
    await sleep(20)
  }
  await until(() => calls.length >= 1)
  t.ok(Date.now() - started < 300, `the first report went out after ${Date.now() - started} ms`)
})

// Guard tried: the batch slicing in #send removed (one call of 5; with the default, one of 2500).
t.test('at most maxBatch changes per call (1000 by default)', async (t) => {
  const small = setup(t, { maxBatch: 2 })
  for (const id of ['a', 'b', 'c', 'd']) small.registrar.bind(binding(`desk-${id}`))
  small.registrar.unbind('desk-e')
  await until(() => small.calls.length === 3)
  t.same(small.calls.map((c) => c.bindings.length + c.removedDeviceIds.length), [2, 2, 1])

  const big = setup(t)
  for (let i = 0; i < 2_500; i++) big.registrar.bind(binding(`desk-${i}`))
  await until(() => big.calls.length === 3)
  t.same(big.calls.map((c) => c.bindings.length), [1_000, 1_000, 500])
})

// Guards tried: the held() check in #flush removed (a call goes out while the lease is not held);
// the resync on the lease's `active` removed (desk-0, bound before the reporter started queuing,
// is never reported).
t.test('nothing is sent while the lease is not held; the lease becoming active reports every binding', async (t) => {
  const { registrar, calls, becomeActive } = setup(t, { held: false })
  registrar.live.set('desk-0', binding('desk-0')) // restored at start: no event
  registrar.bind(binding('desk-1'))
  registrar.unbind('desk-2')
  await sleep(150)
  t.equal(calls.length, 0, 'no report without the lease')
  becomeActive()
  await until(() => calls.length === 1)
  t.same(devices(calls[0]), { set: ['desk-0', 'desk-1'], removed: ['desk-2'] }, 'every current binding and the removal')
})

// Guards tried: the re-queueing of a failed batch in #send removed (desk-1 never reported);
// #retryLater not rescheduling (no second attempt).
t.test('LEASE_HELD or an unreachable registry: the changes stay queued and are tried again', async (t) => {
  const { registrar, calls, succeeded, failures } = setup(t)
  failures.push(leaseHeldError(), new RegistryCallError('ReportBindings: unreachable', { code: ErrorCode.ERROR_CODE_UNAVAILABLE, grpcCode: status.UNAVAILABLE }))
  registrar.bind(binding('desk-1'))
  registrar.bind(binding('desk-2'))
  await until(() => calls.length >= 1)
  // Queued during the backoff: the newest change of a device wins.
  registrar.unbind('desk-2')
  registrar.bind(binding('desk-3'))
  await until(() => succeeded().length === 1, 3_000, 'a report getting through')
  t.equal(calls.length, 3, 'two failures, then the report')
  t.same(devices(succeeded()[0]), { set: ['desk-1', 'desk-3'], removed: ['desk-2'] })
})

// Guard tried: the resync on `active` removed (the second active reports nothing).
t.test('after the lease was lost and is active again, every current binding is reported once more', async (t) => {
  const { registrar, calls, becomeActive, setHeld } = setup(t)
  registrar.bind(binding('desk-1'))
  registrar.bind(binding('desk-2'))
  await until(() => calls.length === 1)
  setHeld(false)
  registrar.unbind('desk-2')
  await sleep(100)
  t.equal(calls.length, 1, 'nothing while cut off')
  becomeActive()
  await until(() => calls.length === 2)
  t.same(devices(calls[1]), { set: ['desk-1'], removed: ['desk-2'] }, 'desk-1 again (a full resync) and the removal')
})

// Guard tried: the final send in stop() removed (the change queued just before stop is lost).
t.test('stop sends what is queued (lease held), then nothing more', async (t) => {
  const { registrar, reporter, calls } = setup(t, { debounceMs: 1_000 })
  registrar.bind(binding('desk-1'))
  await reporter.stop()
  t.same(calls.map(devices), [{ set: ['desk-1'], removed: [] }])
  registrar.bind(binding('desk-2'))
  await sleep(50)
  t.equal(calls.length, 1, 'not listening any more')
})

// Guard tried: the expiry cap in #report removed (a 48 h registration is reported 48 h ahead, which
// the registry refuses as INVALID_ARGUMENT).
t.test('an expiry beyond 24 h is capped; a contact the cluster would refuse is reported as removed', async (t) => {
  const { registrar, calls } = setup(t)
  registrar.bind(binding('desk-1', { expiresAt: NOW + 48 * 3_600_000 }))
  registrar.bind(binding('desk-2', { contact: 'sip:"odd"@192.0.2.7' }))
  await until(() => calls.length === 1)
  t.ok(calls[0]!.bindings[0]!.expiresAt!.getTime() <= NOW + 24 * 3_600_000 - 60_000, 'within 24 h of the clock')
  t.same(devices(calls[0]), { set: ['desk-1'], removed: ['desk-2'] })
})

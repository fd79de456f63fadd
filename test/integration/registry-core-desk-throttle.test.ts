// The desk throttle against victim lockout, on a real etcd (in-process cores): wrong PINs at one
// desk for several workers pause that desk for every worker, without touching any worker's own
// lockout (they sign in elsewhere); a worker's wrong PINs lock them at one desk, then, from a
// second desk, everywhere; the pause ends on its own; the events are logged and
// counted on an OpenTelemetry meter (read back through the SDK's in-memory exporter), once per
// request however often it is retried, and never with the PIN.
import t from 'tap'
import { Writable } from 'node:stream'
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import { ErrorCode } from '@flexseat/proto'
import pino from 'pino'
import { ADMIN, SIP_NODE, expectCode, freshPrefix, leaderOf, rid, seed, startCore, startEtcd } from '../helpers/registry-core-harness'

t.setTimeout(60_000)

const MINUTE = 60_000
const PINS = { w1: '11112222', w2: '33334444', w3: '55556666', w4: '77778888', w5: '99990000' }
const WRONG = '24681357'

t.test('wrong PINs at one desk, for any workers, pause the desk and only the desk', async (t) => {
  const etcd = await startEtcd(t, 1)
  let now = Date.parse('2031-03-01T09:00:00Z')
  const lines: Record<string, unknown>[] = []
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _encoding, done) => { lines.push(...chunk.toString().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)); done() } }))
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
  const provider = new MeterProvider({ readers: [reader] })
  t.teardown(() => provider.shutdown())
  const handle = await startCore(t, etcd.endpoints, {
    prefix: freshPrefix(),
    site: 'amsterdam',
    clock: () => now,
    deskThrottle: { maxFailures: 3, windowMs: 15 * MINUTE, pauseMs: 10 * MINUTE },
    // A worker: 2 wrong PINs at one desk lock them there, 4 from several desks everywhere.
    lockout: { maxFailures: 2, clusterMaxFailures: 4, windowMs: 15 * MINUTE, lockMs: 15 * MINUTE },
    meter: provider.getMeter('test'),
    logger,
  })
  const { core } = await leaderOf([handle])
  await seed(core, {
    sites: ['amsterdam'],
    devices: ['desk-a', 'desk-b', 'desk-c', 'desk-d', 'desk-e'].map((id) => ({ id, site: 'amsterdam' })),
    users: (['w1', 'w2', 'w3', 'w4', 'w5'] as const).map((id, i) => ({ id, extension: `710${i + 1}`, site: 'amsterdam', pin: PINS[id], roaming: true })),
  })
  const login = (deviceId: string, extension: string, pin: string, requestId = rid('login')) => core.login({ requestId, deviceId, extension, pin, durationHours: 0 }, SIP_NODE)
  /** Sum of a counter's data points whose attributes include `where`. */
  const counted = async (name: string, where: Record<string, string> = {}): Promise<number> => {
    await reader.forceFlush()
    const metrics = exporter.getMetrics().at(-1)?.scopeMetrics.flatMap((s) => s.metrics) ?? []
    const points = metrics.filter((m) => m.descriptor.name === name).flatMap((m) => m.dataPoints as { attributes: Record<string, unknown>; value: number }[])
    return points.filter((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v)).reduce((sum, p) => sum + p.value, 0)
  }

  // Guards tried: the desk check in planLogin removed (the fourth attempt then checks w4's PIN
  // and seats w4 at desk-a); recordDeskFailure's record not written (the desk never pauses).
  await t.test('three wrong PINs for three workers pause desk-a for every worker', async (t) => {
    const first = rid('w1')
    await expectCode(t, login('desk-a', '7101', WRONG, first), ErrorCode.ERROR_CODE_WRONG_PIN, 'w1 at desk-a')
    await expectCode(t, login('desk-a', '7101', WRONG, first), ErrorCode.ERROR_CODE_WRONG_PIN, 'the same request retried')
    await expectCode(t, login('desk-a', '7102', WRONG), ErrorCode.ERROR_CODE_WRONG_PIN, 'w2 at desk-a')
    const third = await expectCode(t, login('desk-a', '7103', WRONG), ErrorCode.ERROR_CODE_WRONG_PIN, 'w3 at desk-a: the third wrong PIN at this desk')
    t.equal(third.facts.attemptsLeft, 1, "w3's own count at desk-a: one wrong PIN")
    const paused = await expectCode(t, login('desk-a', '7104', PINS.w4), ErrorCode.ERROR_CODE_DESK_THROTTLED, "w4's right PIN at desk-a: the desk is paused")
    t.equal(paused.facts.lockedUntil?.getTime(), now + 10 * MINUTE, 'until the pause ends')
    t.equal(paused.facts.retryAfterMs, 10 * MINUTE, 'and a retry hint')
  })

  await t.test('the workers are not locked: they sign in at other desks', async (t) => {
    const user = await core.getUser({ key: { $case: 'userId', value: 'w4' } })
    t.equal(user.user?.lockedUntil, undefined, 'w4 has no lockout')
    const seated = await login('desk-b', '7104', PINS.w4)
    t.equal(seated.seat?.deviceId, 'desk-b', 'w4 signs in at desk-b')
    const w1 = await expectCode(t, login('desk-b', '7101', WRONG), ErrorCode.ERROR_CODE_WRONG_PIN, 'w1 mistypes at desk-b')
    t.equal(w1.facts.attemptsLeft, 1, "w1's count at desk-b is its own: desk-a's wrong PIN does not count here")
  })

  await t.test('the pause ends on its own', async (t) => {
    now += 10 * MINUTE + 1
    const seated = await login('desk-a', '7102', PINS.w2)
    t.equal(seated.seat?.deviceId, 'desk-a', 'w2 signs in at desk-a again')
  })

  await t.test('logged and counted for an administrator, once per request, without the PIN', async (t) => {
    const paused = lines.filter((l) => l['msg'] === 'desk paused after too many wrong PINs')
    t.equal(paused.length, 1, 'one `desk paused` warning')
    t.match(paused[0], { level: 40, device: 'desk-a', site: 'amsterdam', until: new Date(Date.parse('2031-03-01T09:10:00Z')).toISOString() })
    t.equal(lines.filter((l) => l['msg'] === 'wrong PIN').length, 4, 'four wrong PINs logged (the retry not again)')
    t.match(lines.find((l) => l['msg'] === 'PIN sign-in refused'), { reason: 'desk-paused', user: 'w4', device: 'desk-a' })
    t.notOk(lines.some((l) => JSON.stringify(l).includes(WRONG) || JSON.stringify(l).includes(PINS.w4)), 'no PIN in any log line')
    t.equal(await counted('flexseat.pin.failures', { 'flexseat.site': 'amsterdam' }), 4, 'flexseat.pin.failures: 4')
    t.equal(await counted('flexseat.pin.lockouts', { 'flexseat.pin.scope': 'desk' }), 1, 'flexseat.pin.lockouts{scope=desk}: 1')
    t.equal(await counted('flexseat.pin.refused', { 'flexseat.pin.reason': 'desk-paused' }), 1, 'flexseat.pin.refused{reason=desk-paused}: 1')
    t.equal(await counted('flexseat.pin.lockouts', { 'flexseat.pin.scope': 'worker' }), 0, 'no worker locked yet')
  })

  await t.test("a worker's own locks are counted too: at one desk, then everywhere", async (t) => {
    await expectCode(t, login('desk-c', '7105', WRONG), ErrorCode.ERROR_CODE_WRONG_PIN, 'w5 at desk-c')
    await expectCode(t, login('desk-c', '7105', WRONG), ErrorCode.ERROR_CODE_LOCKED_AT_DESK, 'the second at desk-c locks w5 there')
    await expectCode(t, login('desk-c', '7105', PINS.w5), ErrorCode.ERROR_CODE_LOCKED_AT_DESK, 'even the right PIN at desk-c')
    await expectCode(t, login('desk-d', '7105', WRONG), ErrorCode.ERROR_CODE_WRONG_PIN, 'w5 at desk-d: a count of its own')
    await expectCode(t, login('desk-d', '7105', WRONG), ErrorCode.ERROR_CODE_LOCKED_OUT, 'the fourth, from a second desk, locks w5 everywhere')
    await expectCode(t, login('desk-e', '7105', PINS.w5), ErrorCode.ERROR_CODE_LOCKED_OUT, 'then even the right PIN at a third desk is refused')
    t.equal(await counted('flexseat.pin.lockouts', { 'flexseat.pin.scope': 'worker-at-desk' }), 1, 'flexseat.pin.lockouts{scope=worker-at-desk}: 1')
    t.equal(await counted('flexseat.pin.lockouts', { 'flexseat.pin.scope': 'worker' }), 1, 'flexseat.pin.lockouts{scope=worker}: 1')
    t.equal(await counted('flexseat.pin.refused', { 'flexseat.pin.reason': 'worker-locked-at-desk' }), 1, 'flexseat.pin.refused{reason=worker-locked-at-desk}: 1')
    t.equal(await counted('flexseat.pin.refused', { 'flexseat.pin.reason': 'worker-locked' }), 1, 'flexseat.pin.refused{reason=worker-locked}: 1')
    t.match(lines.find((l) => l['msg'] === 'worker locked at a desk after too many wrong PINs'), { level: 40, user: 'w5', device: 'desk-c' })
    t.match(lines.find((l) => l['msg'] === 'worker locked out after too many wrong PINs'), { level: 40, user: 'w5', device: 'desk-d' })
    await core.resetPin({ requestId: rid('reset'), userId: 'w5', newPin: '13572468' }, ADMIN)
  })
})

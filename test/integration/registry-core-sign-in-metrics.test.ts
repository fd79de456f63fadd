// The sign-in metric on a real etcd (an in-process core, its OpenTelemetry meter read back through
// the SDK's in-memory exporter): every Login is counted once by how the worker signed in — the
// same word the seat records as `via` — `phone` (a SIP node's *51), `softkey` (a provisioning
// service's Login key), `portal` (a worker's portal session) and `admin`; a refused portal Login
// is counted as a portal one too.
import t from 'tap'
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import { ErrorCode, SeatVia } from '@flexseat/proto'
import type { Caller } from '@flexseat/registry'
import { ADMIN, SIP_NODE, expectCode, freshPrefix, leaderOf, rid, seed, startCore, startEtcd } from '../helpers/registry-core-harness'

t.setTimeout(60_000)

const PINS = { w1: '11112222', w2: '33334444', w3: '55556666', w4: '77778888' }
const PROVISIONING: Caller = { name: 'prov-amsterdam', role: 'provisioning', site: 'amsterdam' }
/** A worker's portal session, as the registry's authenticator resolves it (sessions.ts). */
function workerSession(userId: string): Caller {
  const now = Date.now()
  return {
    name: userId,
    role: 'worker',
    session: { id: 'f'.repeat(64), scope: 'worker', userId, proof: 'pin', portal: 'portal-amsterdam', name: userId, createdAt: new Date(now).toISOString(), expiresAt: new Date(now + 3_600_000).toISOString() },
  }
}

t.test('the sign-in metric counts each Login by how the worker signed in', async (t) => {
  const etcd = await startEtcd(t, 1)
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
  const provider = new MeterProvider({ readers: [reader] })
  t.teardown(() => provider.shutdown())
  const handle = await startCore(t, etcd.endpoints, { prefix: freshPrefix(), site: 'amsterdam', meter: provider.getMeter('test') })
  const { core } = await leaderOf([handle])
  await seed(core, {
    sites: ['amsterdam'],
    devices: ['desk-a', 'desk-b', 'desk-c', 'desk-d'].map((id) => ({ id, site: 'amsterdam' })),
    users: (['w1', 'w2', 'w3', 'w4'] as const).map((id, i) => ({ id, extension: `720${i + 1}`, site: 'amsterdam', pin: PINS[id] })),
  })
  /** The sign-in counter's points: `via` → `outcome` → count. */
  const counted = async (): Promise<Record<string, Record<string, number>>> => {
    await reader.forceFlush()
    const metrics = exporter.getMetrics().at(-1)?.scopeMetrics.flatMap((s) => s.metrics) ?? []
    const points = metrics.filter((m) => m.descriptor.name === 'flexseat.sign_ins').flatMap((m) => m.dataPoints as { attributes: Record<string, unknown>; value: number }[])
    const table: Record<string, Record<string, number>> = {}
    for (const p of points) {
      const via = String(p.attributes['flexseat.via'])
      const outcome = String(p.attributes['flexseat.outcome'])
      table[via] = { ...table[via], [outcome]: (table[via]?.[outcome] ?? 0) + p.value }
    }
    return table
  }

  // Guard tried: the metric's `via` computed as before (admin, else phone): portal and softkey
  // sign-ins were counted as phone ones, and this test failed.
  const phone = await core.login({ requestId: rid('phone'), deviceId: 'desk-a', extension: '7201', pin: PINS.w1, durationHours: 0 }, SIP_NODE)
  const softkey = await core.login({ requestId: rid('softkey'), deviceId: 'desk-b', extension: '7202', pin: PINS.w2, durationHours: 0 }, PROVISIONING)
  const portal = await core.login({ requestId: rid('portal'), deviceId: 'desk-c', extension: '7203', pin: '', durationHours: 2 }, workerSession('w3'))
  const admin = await core.login({ requestId: rid('admin'), deviceId: 'desk-d', extension: '7204', pin: '', durationHours: 0 }, ADMIN)
  t.same([phone, softkey, portal, admin].map((r) => r.seat?.via), [SeatVia.SEAT_VIA_PHONE, SeatVia.SEAT_VIA_SOFTKEY, SeatVia.SEAT_VIA_PORTAL, SeatVia.SEAT_VIA_ADMIN], 'the seats say how')
  t.same(await counted(), { phone: { ok: 1 }, softkey: { ok: 1 }, portal: { ok: 1 }, admin: { ok: 1 } }, 'one sign-in of each method, counted by the same word')

  // A worker's session that names another worker is refused, and counted as a portal sign-in.
  await expectCode(t, core.login({ requestId: rid('portal'), deviceId: 'desk-a', extension: '7201', pin: '', durationHours: 0 }, workerSession('w3')), ErrorCode.ERROR_CODE_PERMISSION_DENIED, "w3's session signing in w1")
  t.same((await counted())['portal'], { ok: 1, permission_denied: 1 }, 'the refusal, counted as portal')
})

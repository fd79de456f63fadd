// The occupancy report (ReportService.GetOccupancyReport) over real registry processes, real etcd
// and real gRPC: a history made by real logins and logouts (hours exact to the millisecond of
// the seats' own records, an open seat counted up to the report's `until`, the peak, the unused
// desk, a desk that is no flex host left out); the same report after every instance restarted; a history across Europe/Berlin's latest change of
// clock (written as a release writes it, seat-history.ts: the registry's clock is the real one) giving a
// 23 or 25 h day; bad input naming the field; administrators only. Each case says which guard
// it was seen to fail without.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { credentials, status } from '@grpc/grpc-js'
import { Device, type GetOccupancyReportRequest, ReportServiceClient, unary } from '@flexseat/proto'
import { createEtcdClient, errorDetailOf, Keys } from '@flexseat/registry'
import { callError, eventually, RegistryCluster, type TokenRole, worker } from '../helpers/registry-cluster'
import { writeEndedSeats } from '../helpers/seat-history'

t.setTimeout(60_000)

const H = 3_600_000
const RETENTION_DAYS = 400
const berlinDate = (at: Date): string => new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Berlin' }).format(at)

/** Europe/Berlin's latest change of clock before now: the last Sunday of March or October (at 01:00 UTC). */
function latestBerlinChange(now: number): { date: string; dayStart: number; nextStart: number; hours: number } {
  const candidates: Array<{ date: string; dayStart: number; nextStart: number; hours: number }> = []
  for (const year of [new Date(now).getUTCFullYear(), new Date(now).getUTCFullYear() - 1]) {
    for (const month of [2, 9]) {
      const last = new Date(Date.UTC(year, month + 1, 0))
      const sunday = Date.UTC(year, month, last.getUTCDate() - last.getUTCDay())
      // March: CET midnight (23:00 UTC before) to CEST midnight (22:00 UTC); October the reverse.
      const [before, after] = month === 2 ? [-1, -2] : [-2, -1]
      candidates.push({ date: new Date(sunday).toISOString().slice(0, 10), dayStart: sunday + before * H, nextStart: sunday + 86_400_000 + after * H, hours: month === 2 ? 23 : 25 })
    }
  }
  return candidates.filter((c) => c.nextStart < now).sort((a, b) => b.dayStart - a.dayStart)[0]!
}

t.test('occupancy report over gRPC', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 2, etcdMembers: 1, logLevel: 'info', env: { FLEXSEAT_SEAT_HISTORY_RETENTION_SECONDS: String(RETENTION_DAYS * 86_400) } })
  t.teardown(() => cluster.stop())
  const leader = await cluster.leader()
  const follower = leader === 0 ? 1 : 0
  const admin = cluster.metadata('admin')
  const { directory, seat } = cluster.clients(follower)
  // A restarted instance listens on a new port: one client per address.
  const clients = new Map<string, ReportServiceClient>()
  t.teardown(() => clients.forEach((c) => c.close()))
  const reportsAt = (address: string): ReportServiceClient => {
    let client = clients.get(address)
    if (client === undefined) clients.set(address, (client = new ReportServiceClient(address, credentials.createInsecure())))
    return client
  }
  const report = (req: Partial<GetOccupancyReportRequest>, role: TokenRole = 'admin') => {
    const reports = reportsAt(cluster.instances[follower]!.address)
    return unary(reports.getOccupancyReport.bind(reports), { siteId: 'berlin', from: '', to: '', ...req }, { metadata: cluster.metadata(role), timeoutMs: 10_000 })
  }
  await eventually('the sites exist', async () => (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })).sites.length === 2)
  for (const [id, siteId, flexHost] of [['ber-1', 'berlin', true], ['ber-2', 'berlin', true], ['ber-3', 'berlin', true], ['ber-lobby', 'berlin', false], ['ams-1', 'amsterdam', true]] as const) {
    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: Device.fromPartial({ id, siteId, extension: '', label: `Desk ${id}`, model: 'test', flexHost }) }, { metadata: admin })
  }
  for (const ext of ['4001', '4002', '4003']) await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker(ext), pin: '4711' }, { metadata: admin })

  t.test('a history made by real logins and logouts', async (t) => {
    const login = (ext: string, deviceId: string) => unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId, extension: ext, pin: '', durationHours: 0 }, { metadata: admin })
    const today = berlinDate(new Date())
    const yesterday = berlinDate(new Date(Date.now() - 86_400_000))
    await login('4001', 'ber-1')
    await login('4002', 'ber-2')
    await login('4003', 'ams-1')
    await unary(seat.logout.bind(seat), { requestId: randomUUID(), target: { $case: 'userId', value: 'u4001' }, reason: 0 }, { metadata: admin })
    const [one] = (await unary(seat.listSeatHistory.bind(seat), { userId: 'u4001', limit: 0 }, { metadata: admin })).records
    const [two] = (await unary(seat.listSeatHistory.bind(seat), { userId: 'u4002', limit: 0 }, { metadata: admin })).records
    t.ok(one?.end !== undefined && two?.end === undefined, 'the history: one ended, one open')

    // Guards tried: historyEnd (seat-history.ts) without the occupancy key: ber-1's seat is not
    // counted; the open seats' read without its site filter: ams-1 shows up, branch.seats is 3.
    const r = await report({ from: yesterday, to: today })
    t.same(r.days, [yesterday, today])
    t.equal(r.timezone, 'Europe/Berlin')
    t.same(r.desks.map((d) => d.deviceId), ['ber-1', 'ber-2', 'ber-3'], 'the flex desks of Berlin, not the lobby phone, not Amsterdam\'s')
    t.equal(r.desks[0]?.label, 'Desk ber-1')
    t.same(r.unusedDeviceIds, ['ber-3'])
    t.equal(r.branch?.seats, 2)
    const hours = (id: string) => r.desks.find((d) => d.deviceId === id)!.hours!
    t.equal(hours('ber-1').total, (one!.end!.getTime() - one!.start!.getTime()) / H, 'an ended seat: its own start to end, exactly')
    // Guard tried: `seat.end ?? until` as `seat.end ?? seat.start`: the open seat counts 0 h.
    t.equal(hours('ber-2').total, (r.until!.getTime() - two!.start!.getTime()) / H, 'an open seat: up to the report\'s until')
    t.ok(r.until!.getTime() >= two!.start!.getTime() && r.until!.getTime() <= Date.now(), 'until is now')
    const ms = (values: number[]) => values.reduce((a, b) => a + Math.round(b * H), 0)
    t.equal(ms(hours('ber-1').perDay), one!.end!.getTime() - one!.start!.getTime(), 'the days add up, to the millisecond')
    t.equal(ms(hours('ber-1').byHour), one!.end!.getTime() - one!.start!.getTime(), 'the hours of the day add up')
    t.equal(Math.round(r.branch!.total * H), Math.round(hours('ber-1').total * H) + Math.round(hours('ber-2').total * H), 'the branch: the desks together')
    // Guard tried: the sweep without its `current += delta` order (ends first): still 2 here, but
    // the unit test's back-to-back seats report 2 instead of 1 (test/unit/registry-occupancy.test.ts).
    t.equal(r.peakSeats, 2, 'both seated at once')
    t.equal(r.peakAt?.getTime(), two!.start!.getTime(), 'from the second login on')
  })

  t.test('a day across Europe/Berlin\'s latest change of clock: 23 or 25 hours exactly', async (t) => {
    const etcd = createEtcdClient(cluster.etcd.endpoints, { callTimeoutMs: 3_000 })
    t.teardown(() => etcd.close())
    const keys = new Keys(cluster.prefix)
    const change = latestBerlinChange(Date.now())
    await writeEndedSeats(etcd, keys, [
      // From the evening before to the morning after: the whole day, clipped to it.
      { userId: 'u4001', deviceId: 'ber-dst', siteId: 'berlin', start: change.dayStart - 2 * H, end: change.nextStart + H, reason: 1 },
      // Amsterdam shares the zone's rules, but not the report.
      { userId: 'u4003', deviceId: 'ams-dst', siteId: 'amsterdam', start: change.dayStart, end: change.nextStart, reason: 1 },
    ])
    // Guard tried: LocalClock.startOf returning UTC midnight: 24 h and byHour[2] = 1.
    const r = await report({ from: change.date, to: change.date })
    t.same(r.days, [change.date])
    t.same(r.branch?.perDay, [change.hours], `${change.date} is ${change.hours} h long in Berlin`)
    t.equal(r.branch?.byHour[2], change.hours === 25 ? 2 : 0, '02:00 twice on fall-back, never on spring-forward')
    t.equal(r.branch?.byHour[3], 1)
    t.same(r.desks.find((d) => d.deviceId === 'ber-dst')?.label, '', 'a desk of the history that is no device now: listed, without a label')
    t.same(r.unusedDeviceIds, ['ber-1', 'ber-2', 'ber-3'], 'nobody sat at the real desks that day')
    t.equal(r.peakSeats, 1)
  })

  t.test('the history survives restarts: every instance restarted, the same report', async (t) => {
    const change = latestBerlinChange(Date.now())
    const before = await report({ from: change.date, to: change.date })
    for (const index of [0, 1]) await cluster.restart(index)
    await cluster.leader()
    const after = await report({ from: change.date, to: change.date })
    t.same({ ...after, until: undefined }, { ...before, until: undefined }, 'the same figures from the restarted registry')
    t.equal(after.branch?.seats, 1)
  })

  t.test('bad input: INVALID_ARGUMENT naming the field; administrators only', async (t) => {
    const today = berlinDate(new Date())
    const tooOld = new Date(Date.now() - (RETENTION_DAYS + 1) * 86_400_000).toISOString().slice(0, 10)
    // Guards tried, each removed in turn: the from/to order check, parseDate's calendar round trip,
    // the unknown site's check (then a report of nothing), the retention check.
    for (const [what, req, field] of [
      ['from after to', { from: today, to: '2020-01-01' }, 'to'],
      ['not a date', { from: '2026-02-30', to: today }, 'from'],
      ['not a date (to)', { from: today, to: 'tomorrow' }, 'to'],
      ['an unknown site', { siteId: 'atlantis', from: today, to: today }, 'site_id'],
      ['a malformed site id', { siteId: 'Berlin!', from: today, to: today }, 'site_id'],
      ['further back than the retention', { from: tooOld, to: today }, 'from'],
      ['longer than 400 days', { from: today, to: '2999-01-01' }, 'to'],
    ] as const) {
      const error = await callError(report(req))
      t.equal(error.code, status.INVALID_ARGUMENT, `${what}: INVALID_ARGUMENT`)
      t.equal(errorDetailOf(error)?.field, field, `naming ${field}`)
    }
    // Guard tried: GetOccupancyReport added to the viewers' reads (auth.ts): the first fails.
    for (const role of ['viewer', 'sip-node', 'provisioning', 'portal'] as const) {
      t.equal((await callError(report({ from: today, to: today }, role))).code, status.PERMISSION_DENIED, `${role}: PERMISSION_DENIED`)
    }
  })
})

// Staying past a warned sign-out (issue 19's warn_minutes: "dial *51 to stay"), end to end: real
// etcd, registries, SIP engines and nodes, sipp phones, gRPC over sockets. Policy hours and
// minutes count as seconds here (FLEXSEAT_TEST_POLICY_SECONDS=1). The desk is warned with the
// dial string that renews ("— dial *51*1001*PIN to stay"); the worker dials it at that desk; the
// seat then does not end at the old deadline but at the renewed one, and the desk is warned
// again. A daily sign-out is postponed by 2 x warn_minutes, not moved to the next day. A wrong PIN
// renews nothing; another branch's node token cannot renew (PERMISSION_DENIED, at the leader and
// through a follower); a worker not seated at the desk is refused (NOT_SEATED_HERE).
import t from 'tap'
import { status } from '@grpc/grpc-js'
import { ErrorCode, PolicyLevel, ReleaseReason, unary } from '@flexseat/proto'
import { errorDetailOf } from '@flexseat/registry'
import { Branches, PIN, statusLine } from '../helpers/branches'
import { callError, eventually } from '../helpers/registry-cluster'

t.setTimeout(120_000)

const ZONE = 'Europe/Amsterdam'
const hhmm = (at: Date | number) => new Intl.DateTimeFormat('en-GB', { timeZone: ZONE, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(at)
const hhmmss = (at: number) => new Intl.DateTimeFormat('en-GB', { timeZone: ZONE, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(at)
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('renewing a seat at its desk over real SIP', async (t) => {
  const branches = await Branches.start(t, { confirmationLeaseSeconds: 3, registryEnv: { FLEXSEAT_TEST_POLICY_SECONDS: '1' } })
  const registry = branches.registry
  const leader = await registry.leader()
  const { policy, seat } = registry.clients(leader)
  const metadata = registry.metadata('admin')
  const setAda = (p: { maxHours?: number; dailySignOut?: string; warnMinutes?: number }) =>
    unary(policy.setSeatPolicy.bind(policy), { requestId: `ada-${Date.now()}-${Math.random()}`, scope: { level: PolicyLevel.POLICY_LEVEL_USER, id: 'ada' }, policy: { none: [], ...p } }, { metadata })
  const seatOfAda = async () => (await unary(seat.getSeat.bind(seat), { target: { $case: 'userId', value: 'ada' } }, { metadata })).seat
  const history = async () => (await unary(seat.listSeatHistory.bind(seat), { userId: 'ada', limit: 0 }, { metadata })).records
  const amsDesk1 = await branches.phone('amsterdam', 'ams-desk-1').start()
  const stay = `*51*1001*PIN`

  // Guards tried: the node without the renewal branch (a sign-in again: '480 Signed in as 1001');
  // renewedSeat without the new time limit (the seat ends at the old deadline); the warning
  // without its `stay` text; the lockout skipped in planRenewSeat (the wrong PIN renews).
  await t.test('a time limit: warned with how to stay, renewed, ends at the new deadline', async (t) => {
    await setAda({ maxHours: 6, warnMinutes: 3 })
    t.equal(statusLine(await amsDesk1.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001')
    const first = (await seatOfAda())!
    await amsDesk1.waitForMessage(`Signing out at ${hhmm(first.expiresAt!)} (time limit) — dial ${stay} to stay`, 8_000, first.since!.getTime())
    t.equal(statusLine(await amsDesk1.dial('*51*1001*9999')), '403 Wrong PIN - 4 tries left', 'a wrong PIN at the desk')
    t.equal((await seatOfAda())!.epoch, first.epoch, 'renews nothing')
    const renewing = Date.now()
    t.equal(statusLine(await amsDesk1.dial(`*51*1001*${PIN['1001']}`)), '480 Seat renewed', 'the worker stays')
    const renewed = (await seatOfAda())!
    t.ok(BigInt(renewed.epoch) > BigInt(first.epoch), 'a new epoch')
    t.same([renewed.deviceId, renewed.since], [first.deviceId, first.since], 'the same seat: same desk, same start')
    t.ok(renewed.expiresAt!.getTime() >= renewing + 6_000 && renewed.expiresAt!.getTime() > first.expiresAt!.getTime(), 'the time limit runs from the renewal')
    await amsDesk1.waitForMessage(`Seat renewed until ${hhmm(renewed.expiresAt!)}`, 5_000, renewing)
    // Past the old deadline (and the leader's scan of it): still seated.
    while (Date.now() < first.expiresAt!.getTime() + 1_000) await pause(100)
    t.equal((await seatOfAda())?.epoch, renewed.epoch, 'still seated after the old deadline')
    t.ok(await amsDesk1.waitForMessage(`Signing out at ${hhmm(renewed.expiresAt!)} (time limit) — dial ${stay} to stay`, 8_000, renewing + 1), 'warned again before the new end')
    await amsDesk1.waitForMessage('1001 signed out: time limit 6 s', 10_000, renewing)
    const [record] = await eventually('the seat ended in the history', async () => ((await history())[0]?.end === undefined ? undefined : history()))
    t.equal(record!.reason, ReleaseReason.RELEASE_REASON_TIME_LIMIT)
    t.ok(record!.end!.getTime() >= renewed.expiresAt!.getTime(), 'at the renewed deadline')
    t.same(record!.start, first.since, 'one history record for the renewed seat, from its start')
  })

  // Guard tried: renewedDeadlines without the postponement (the seat ends at the old daily time).
  await t.test('a daily sign-out: postponed by 2 x warn_minutes, not to the next day', async (t) => {
    await setAda({ dailySignOut: hhmmss(Date.now() + 6_000), warnMinutes: 2 })
    const since = Date.now()
    t.equal(statusLine(await amsDesk1.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001')
    const first = (await seatOfAda())!
    await amsDesk1.waitForMessage(`Signing out at ${hhmm(first.dailySignOutAt!)} (daily sign-out) — dial ${stay} to stay`, 8_000, since)
    const renewing = Date.now()
    t.equal(statusLine(await amsDesk1.dial(`*51*1001*${PIN['1001']}`)), '480 Seat renewed')
    const renewed = (await seatOfAda())!
    const postponedTo = renewed.dailySignOutAt!.getTime()
    t.ok(postponedTo >= renewing + 4_000 && postponedTo <= Date.now() + 4_000, 'the renewal + 2 x warn_minutes (4 s here)')
    t.ok(postponedTo > first.dailySignOutAt!.getTime(), 'later than the old time')
    await amsDesk1.waitForMessage(`Seat renewed until ${hhmm(postponedTo)}`, 5_000, renewing)
    await amsDesk1.waitForMessage(/^1001 signed out: daily sign-out /, 12_000, renewing)
    const [record] = await eventually('the seat ended in the history', async () => ((await history())[0]?.end === undefined ? undefined : history()))
    t.equal(record!.reason, ReleaseReason.RELEASE_REASON_DAILY)
    t.ok(record!.end!.getTime() >= postponedTo, 'at the postponed time, not the old one')
  })

  // Guards tried: the seat service without mayRenewSeat (Berlin's token renews Amsterdam's seat);
  // planRenewSeat without the seat's desk compared (1002 renews a seat it does not hold).
  await t.test("another branch's node token cannot renew; a worker not seated here is refused", async (t) => {
    await unary(policy.deleteSeatPolicy.bind(policy), { requestId: `ada-clear-${Date.now()}`, scope: { level: PolicyLevel.POLICY_LEVEL_USER, id: 'ada' } }, { metadata })
    t.equal(statusLine(await amsDesk1.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001')
    const seated = (await seatOfAda())!
    const follower = registry.instances.findIndex((_, i) => i !== leader)
    for (const via of [leader, follower]) {
      const client = registry.clients(via).seat
      const request = { requestId: `renew-berlin-${via}-${Date.now()}`, deviceId: 'ams-desk-1', extension: '1001', pin: PIN['1001']! }
      const error = await callError(unary(client.renewSeat.bind(client), request, { metadata: registry.metadata('sip-node', 'berlin') }))
      t.equal(error.code, status.PERMISSION_DENIED, `Berlin's node token via the ${via === leader ? 'leader' : 'follower'}: PERMISSION_DENIED`)
      t.equal(errorDetailOf(error)?.code, ErrorCode.ERROR_CODE_PERMISSION_DENIED)
    }
    const amsterdam = registry.metadata('sip-node', 'amsterdam')
    // 1002 sits at a desk in Berlin: renewing "at" Amsterdam desk 1 is refused.
    await unary(seat.login.bind(seat), { requestId: `1002-ber-${Date.now()}`, deviceId: 'ber-desk-1', extension: '1002', pin: '', durationHours: 0 }, { metadata })
    const other = await callError(unary(seat.renewSeat.bind(seat), { requestId: `renew-1002-${Date.now()}`, deviceId: 'ams-desk-1', extension: '1002', pin: PIN['1002']! }, { metadata: amsterdam }))
    t.equal(errorDetailOf(other)?.code, ErrorCode.ERROR_CODE_NOT_SEATED_HERE, '1002, seated in Berlin, is not seated at Amsterdam desk 1')
    t.equal((await seatOfAda())?.epoch, seated.epoch, 'the seat is unchanged')
    const own = await unary(seat.renewSeat.bind(seat), { requestId: `renew-ams-${Date.now()}`, deviceId: 'ams-desk-1', extension: '1001', pin: PIN['1001']! }, { metadata: amsterdam })
    t.ok(BigInt(own.seat!.epoch) > BigInt(seated.epoch), "Amsterdam's own node token renews it")
  })
})

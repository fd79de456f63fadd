// Sign-out policies end to end: real etcd, registries, SIP engines and nodes, sipp phones. Policy
// hours and minutes count as seconds here (FLEXSEAT_TEST_POLICY_SECONDS=1). A time limit that falls
// due during a call (Chicago calls the worker seated in Amsterdam: a call over the trunk, reported
// by the Chicago node) ends the seat only after the call's BYE, and the desk is told why; an idle
// limit ends a seat nobody calls, and the desk says so.
import t from 'tap'
import { PolicyLevel, ReleaseReason, unary } from '@flexseat/proto'
import { Branches, PIN, statusLine } from '../helpers/branches'
import { eventually } from '../helpers/registry-cluster'

t.setTimeout(120_000)

t.test('sign-out policies over real SIP', async (t) => {
  const branches = await Branches.start(t, { confirmationLeaseSeconds: 3, registryEnv: { FLEXSEAT_TEST_POLICY_SECONDS: '1' } })
  const registry = branches.registry
  const leader = await registry.leader()
  const { policy, seat } = registry.clients(leader)
  const metadata = registry.metadata('admin')
  const setAda = (p: { maxHours?: number; idleMinutes?: number; warnMinutes?: number }) =>
    unary(policy.setSeatPolicy.bind(policy), { requestId: `ada-${Date.now()}-${Math.random()}`, scope: { level: PolicyLevel.POLICY_LEVEL_USER, id: 'ada' }, policy: { none: [], ...p } }, { metadata })
  const history = async () => (await unary(seat.listSeatHistory.bind(seat), { userId: 'ada', limit: 0 }, { metadata })).records
  const [amsDesk1, chiFixed] = await Promise.all([branches.phone('amsterdam', 'ams-desk-1').start(), branches.phone('chicago', 'chi-fixed').start()])

  // Guard tried: the call log built without the activity reporter (sip-node.ts): the seat ends at
  // 3 s, mid-call, and the history's end comes before the BYE.
  await t.test('a time limit due during a call waits for its BYE; the desk is told why', async (t) => {
    await setAda({ maxHours: 3, warnMinutes: 2 })
    t.equal(statusLine(await amsDesk1.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001', '1001 signs in at Amsterdam desk 1')
    const seated = (await unary(seat.getSeat.bind(seat), { target: { $case: 'userId', value: 'ada' } }, { metadata })).seat!
    t.equal(seated.expiresAt!.getTime() - seated.since!.getTime(), 3_000, 'a limit of 3 s')
    const call = await chiFixed.dial('1001', { holdMs: 6_000 })
    const byeSent = Date.now()
    t.ok(call.answered, `Chicago calls 1001; the Amsterdam desk answers and talks for 6 s (${statusLine(call)})`)
    const told = await amsDesk1.waitForMessage('1001 signed out: time limit 3 s', 10_000, call.started)
    // warn_minutes 2 (2 s here): the desk was warned before the end, with the end's local time.
    const local = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Amsterdam', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(seated.expiresAt!)
    const warned = await amsDesk1.waitForMessage(`Signing out at ${local} (time limit) — dial *51*1001*PIN to stay`, 1_000, seated.since!.getTime())
    t.ok(warned.time < told.time, 'warned before the seat ended')
    const [record] = await eventually('the seat ended in the history', async () => ((await history())[0]?.end === undefined ? undefined : history()))
    t.equal(record!.reason, ReleaseReason.RELEASE_REASON_TIME_LIMIT, 'ended by its time limit')
    t.ok(record!.end!.getTime() > seated.expiresAt!.getTime(), 'not at its deadline, which fell during the call')
    t.ok(record!.end!.getTime() >= call.started + 6_000 - 500, 'but once the call had ended (the BYE)')
    t.ok(told.time >= byeSent - 1_000, 'the desk was told after the call')
  })

  // Guard tried: seat-end.ts without the idle candidate (the seat stays).
  await t.test('an idle limit ends a seat nobody calls; the desk says so', async (t) => {
    await setAda({ idleMinutes: 3 })
    const since = Date.now()
    t.equal(statusLine(await amsDesk1.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001')
    await amsDesk1.waitForMessage('1001 signed out: idle 3 s', 10_000, since)
    const records = await history()
    t.equal(records[0]!.reason, ReleaseReason.RELEASE_REASON_IDLE)
    t.equal(records.length, 2, 'two seats, each ended once')
  })

  // Guard tried: the feature handler without `revoked` (the plain "Signed in as 1001 (Ada Lovelace)").
  await t.test("a takeover's confirmation names the seat it ended", async (t) => {
    await unary(policy.deleteSeatPolicy.bind(policy), { requestId: `ada-clear-${Date.now()}`, scope: { level: PolicyLevel.POLICY_LEVEL_USER, id: 'ada' } }, { metadata })
    const berDesk1 = await branches.phone('berlin', 'ber-desk-1').start()
    t.equal(statusLine(await amsDesk1.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001')
    const since = Date.now()
    t.equal(statusLine(await berDesk1.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001', '1001 moves to Berlin')
    t.ok(await berDesk1.waitForMessage('Signed in as 1001 (Ada Lovelace) — signed out of Amsterdam, desk-1', 10_000, since), 'the Berlin desk names the Amsterdam seat')
    t.ok(await amsDesk1.waitForMessage('1001 signed out: signed in at Berlin, desk-1', 10_000, since), 'and Amsterdam says where the worker went')
  })
})

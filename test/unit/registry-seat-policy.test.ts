// Sign-out policies as pure functions: validation naming the field, resolution most specific
// first with sources, a seat's deadlines, its next end (with calls), call activity, the test-only
// unit setting.
import t from 'tap'
import { join } from 'node:path'
import { DialogState, PolicyLevel, PolicySetting, ReleaseReason, type SeatPolicy } from '@flexseat/proto'
import { applyActivity, loadRegistryConfig, REAL_UNITS, RegistryConfigError, resolvePolicy, SECOND_UNITS, seatDeadlines, seatEnd, validatePolicy } from '@flexseat/registry'

const policy = (p: Partial<SeatPolicy>): SeatPolicy => ({ none: [], ...p })
const SITE = { id: 'berlin', timezone: 'Europe/Berlin' }

t.test('validation names the first bad field', async (t) => {
  const field = (p: Partial<SeatPolicy>) => {
    try {
      validatePolicy(policy(p))
      return 'valid'
    } catch (error) {
      return (error as { facts?: { field?: string }; message: string }).facts?.field ?? (error as Error).message
    }
  }
  t.equal(field({ maxHours: 0 }), 'policy.max_hours')
  t.equal(field({ maxHours: 1000 }), 'policy.max_hours')
  t.equal(field({ maxHours: 999 }), 'valid')
  t.equal(field({ dailySignOut: '25:00' }), 'policy.daily_sign_out')
  t.equal(field({ dailySignOut: '19:60' }), 'policy.daily_sign_out')
  t.equal(field({ dailySignOut: '9:00' }), 'policy.daily_sign_out')
  t.equal(field({ dailySignOut: '23:59' }), 'valid')
  t.equal(field({ idleMinutes: 10_081 }), 'policy.idle_minutes')
  t.equal(field({ warnMinutes: 0 }), 'policy.warn_minutes')
  t.equal(field({ none: [PolicySetting.POLICY_SETTING_DEFER_WHILE_IN_CALL] }), 'policy.none[0]')
})

t.test('resolution: user, user max_seat_hours, department, site, default', async (t) => {
  const e = resolvePolicy({
    site: { ...SITE, policy: { maxHours: 12, dailySignOut: '19:00', warnMinutes: 5 } },
    department: { name: 'Sales', policy: { idleMinutes: 30, none: ['dailySignOut'] } },
    user: { id: 'ada', maxSeatHours: 9, policy: { deferMaxMinutes: 60 } },
  })
  t.match(e, { maxHours: 9, dailySignOut: '', idleMinutes: 30, deferWhileInCall: true, deferMaxMinutes: 60, warnMinutes: 5, timeZone: 'Europe/Berlin' })
  const source = (s: PolicySetting) => e.sources.find((x) => x.setting === s)?.scope
  t.same(source(PolicySetting.POLICY_SETTING_MAX_HOURS), { level: PolicyLevel.POLICY_LEVEL_USER_MAX_SEAT_HOURS, id: 'ada' })
  t.same(source(PolicySetting.POLICY_SETTING_DAILY_SIGN_OUT), { level: PolicyLevel.POLICY_LEVEL_DEPARTMENT, id: 'sales' })
  t.same(source(PolicySetting.POLICY_SETTING_DEFER_WHILE_IN_CALL), { level: PolicyLevel.POLICY_LEVEL_DEFAULT, id: '' })
  const userNone = resolvePolicy({ site: { ...SITE, policy: { maxHours: 12 } }, user: { id: 'ada', maxSeatHours: 9, policy: { none: ['maxHours'] } } })
  t.equal(userNone.maxHours, 0, "the user's own none beats their max_seat_hours and the site")
  // A department policy the directory sync wrote names its template; only where its value is used.
  // Guard tried: the template not taken where a value is (only where one is switched off): '' for idle.
  const synced = resolvePolicy({
    site: { ...SITE, policy: { warnMinutes: 5 } },
    department: { name: 'Sales', policy: { idleMinutes: 30, none: ['dailySignOut'], template: 'templates.departments.Sales' } },
    user: { id: 'ada', maxSeatHours: 0, policy: { maxHours: 4 } },
  })
  const template = (s: PolicySetting) => synced.sources.find((x) => x.setting === s)?.template
  t.equal(template(PolicySetting.POLICY_SETTING_IDLE_MINUTES), 'templates.departments.Sales')
  t.equal(template(PolicySetting.POLICY_SETTING_DAILY_SIGN_OUT), 'templates.departments.Sales', 'switched off by the template')
  t.equal(template(PolicySetting.POLICY_SETTING_MAX_HOURS), '', "the user's own")
  t.equal(template(PolicySetting.POLICY_SETTING_WARN_MINUTES), '', "the site's")
})

t.test('deadlines: a login asks for less, never more; units', async (t) => {
  const since = Date.parse('2026-12-07T09:00:00Z')
  const e = resolvePolicy({ site: { ...SITE, policy: { maxHours: 8, dailySignOut: '19:00', idleMinutes: 30 } }, user: { id: 'ada', maxSeatHours: 0 } })
  t.same(seatDeadlines(e, since, 0), { expiresAt: '2026-12-07T17:00:00.000Z', dailyAt: '2026-12-07T18:00:00.000Z', dailySignOut: '19:00', idleSeconds: 1_800, deferSeconds: 14_400 })
  t.equal(seatDeadlines(e, since, 20).expiresAt, '2026-12-07T17:00:00.000Z', '20 h asked, 8 h allowed')
  t.equal(seatDeadlines(e, since, 2).expiresAt, '2026-12-07T11:00:00.000Z', '2 h asked')
  t.match(seatDeadlines(e, since, 0, SECOND_UNITS), { expiresAt: '2026-12-07T09:00:08.000Z', idleSeconds: 30, deferSeconds: 240 }, 'tests: hours and minutes as seconds')
  t.same(REAL_UNITS, { hourMs: 3_600_000, minuteMs: 60_000 })
})

t.test('the next end: earliest deadline; idle from the last call; deferred while in a call, bounded', async (t) => {
  const seat = { userId: 'ada', extension: '1001', displayName: '', deviceId: 'd', siteId: 'berlin', since: '2026-12-07T09:00:00.000Z', via: 'phone' as const }
  const at = (iso: string) => Date.parse(iso)
  t.equal(seatEnd(seat, undefined), undefined, 'no deadline')
  t.match(seatEnd({ ...seat, expiresAt: '2026-12-07T17:00:00.000Z', dailyAt: '2026-12-07T18:00:00.000Z' }, undefined), { at: at('2026-12-07T17:00:00Z'), reason: ReleaseReason.RELEASE_REASON_TIME_LIMIT })
  t.match(seatEnd({ ...seat, expiresAt: '2026-12-07T19:00:00.000Z', dailyAt: '2026-12-07T18:00:00.000Z' }, undefined), { reason: ReleaseReason.RELEASE_REASON_DAILY })
  const idle = { ...seat, idleSeconds: 1_800 }
  t.match(seatEnd(idle, undefined), { at: at('2026-12-07T09:30:00Z'), reason: ReleaseReason.RELEASE_REASON_IDLE }, 'idle from the start without calls')
  t.match(seatEnd(idle, { calls: {}, lastActivity: '2026-12-07T10:00:00.000Z' }), { at: at('2026-12-07T10:30:00Z') }, 'idle from the last call')
  t.equal(seatEnd(idle, { calls: { c1: { siteId: 'x', since: '2026-12-07T10:00:00.000Z' } }, lastActivity: '2026-12-07T10:00:00.000Z' }), undefined, 'never idle in a call')
  const limited = { ...seat, expiresAt: '2026-12-07T17:00:00.000Z', deferSeconds: 14_400 }
  const inCall = { calls: { c1: { siteId: 'x', since: '2026-12-07T16:30:00.000Z' } }, lastActivity: '2026-12-07T16:30:00.000Z' }
  t.match(seatEnd(limited, inCall), { at: at('2026-12-07T21:00:00Z'), dueAt: at('2026-12-07T17:00:00Z'), deferred: true, reason: ReleaseReason.RELEASE_REASON_TIME_LIMIT }, 'in a call: at most the bound later')
  t.match(seatEnd({ ...limited, deferSeconds: undefined }, inCall), { at: at('2026-12-07T17:00:00Z'), deferred: false }, 'without deferral: on time')
})

t.test('call activity: in order, a terminated call stays ended, last activity', async (t) => {
  const e = (callId: string, state: DialogState, at: number) => ({ userId: 'ada', siteId: 'berlin', callId, state, at })
  const now = 10_000
  let r = applyActivity(undefined, [e('c1', DialogState.DIALOG_STATE_EARLY, 1_000), e('c1', DialogState.DIALOG_STATE_CONFIRMED, 2_000)], now)
  t.same(Object.keys(r.calls), ['c1'])
  t.equal(r.lastActivity, new Date(2_000).toISOString())
  r = applyActivity(r, [e('c1', DialogState.DIALOG_STATE_TERMINATED, 5_000)], now)
  t.same(r.calls, {})
  t.equal(r.lastActivity, new Date(5_000).toISOString())
  r = applyActivity(r, [e('c1', DialogState.DIALOG_STATE_EARLY, 1_000)], now)
  t.same(r.calls, {}, 'a repeated EARLY of an ended call does not put it back')
  t.equal(r.lastActivity, new Date(5_000).toISOString(), 'nor moves the last activity back')
  r = applyActivity(r, [e('c2', DialogState.DIALOG_STATE_EARLY, 99_000)], now)
  t.equal(r.lastActivity, new Date(now).toISOString(), 'never in the future of the leader')
})

t.test('FLEXSEAT_TEST_POLICY_SECONDS: tests only', async (t) => {
  const argv = ['--site', 'berlin', '--sites-dir', join(__dirname, '..', '..', 'sites')]
  t.same((await loadRegistryConfig(argv, {})).policyUnits, REAL_UNITS)
  t.same((await loadRegistryConfig(argv, { FLEXSEAT_TEST_POLICY_SECONDS: '1' })).policyUnits, SECOND_UNITS)
  await t.rejects(loadRegistryConfig(argv, { FLEXSEAT_TEST_POLICY_SECONDS: '1', NODE_ENV: 'production' }), RegistryConfigError, 'refused in production')
  await t.rejects(loadRegistryConfig(argv, { FLEXSEAT_TEST_POLICY_SECONDS: 'yes' }), RegistryConfigError)
})

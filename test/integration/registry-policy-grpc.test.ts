// Sign-out policies over real gRPC to real registry processes on real etcd: bad input is
// INVALID_ARGUMENT naming the field and writes nothing; the levels resolve most specific first and
// say where each value came from; a login gets the deadlines of the effective policy (and may ask
// for less, never more).
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { status } from '@grpc/grpc-js'
import { Device, PolicyLevel, PolicySetting, type SeatPolicy, Site, unary } from '@flexseat/proto'
import { errorDetailOf } from '@flexseat/registry'
import { callError, RegistryCluster, worker } from '../helpers/registry-cluster'

t.setTimeout(60_000)

const rid = () => randomUUID()
const policy = (p: Partial<SeatPolicy>): SeatPolicy => ({ none: [], ...p })
const site = (id: string) => ({ level: PolicyLevel.POLICY_LEVEL_SITE, id })

t.test('policies: validation, resolution and the deadlines of a login', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 2, etcdMembers: 1 })
  t.teardown(() => cluster.stop())
  const leader = await cluster.leader()
  await cluster.waitForSites()
  // Through the follower: writes are forwarded, errors come back the same.
  const { policy: api, directory, seat } = cluster.clients(1 - leader)
  const metadata = cluster.metadata('admin')
  const set = (scope: { level: PolicyLevel; id: string }, p: SeatPolicy) => unary(api.setSeatPolicy.bind(api), { requestId: rid(), scope, policy: p }, { metadata })
  const get = (scope: { level: PolicyLevel; id: string }) => unary(api.getSeatPolicy.bind(api), { scope }, { metadata: cluster.metadata('viewer') })

  await t.test('bad input: INVALID_ARGUMENT naming the field, nothing written', async (t) => {
    const cases: [string, () => Promise<unknown>, string][] = [
      ['daily_sign_out 25:00', () => set(site('amsterdam'), policy({ maxHours: 8, dailySignOut: '25:00' })), 'policy.daily_sign_out'],
      ['daily_sign_out 7pm', () => set(site('amsterdam'), policy({ dailySignOut: '7pm' })), 'policy.daily_sign_out'],
      ['max_hours 0', () => set(site('amsterdam'), policy({ maxHours: 0 })), 'policy.max_hours'],
      ['max_hours 1000', () => set(site('amsterdam'), policy({ dailySignOut: '19:00', maxHours: 1000 })), 'policy.max_hours'],
      ['idle_minutes 0', () => set(site('amsterdam'), policy({ idleMinutes: 0 })), 'policy.idle_minutes'],
      ['defer_max_minutes 0', () => set(site('amsterdam'), policy({ deferMaxMinutes: 0 })), 'policy.defer_max_minutes'],
      ['warn_minutes 500', () => set(site('amsterdam'), policy({ warnMinutes: 500 })), 'policy.warn_minutes'],
      ['a setting both given and switched off', () => set(site('amsterdam'), policy({ maxHours: 8, none: [PolicySetting.POLICY_SETTING_MAX_HOURS] })), 'policy.none[0]'],
      ['deferral cannot be switched off with none', () => set(site('amsterdam'), policy({ none: [PolicySetting.POLICY_SETTING_DEFER_MAX_MINUTES] })), 'policy.none[0]'],
      ['no level', () => set({ level: PolicyLevel.POLICY_LEVEL_UNSPECIFIED, id: 'amsterdam' }, policy({ maxHours: 8 })), 'scope.level'],
      ['a bad site id', () => set(site('Not An Id'), policy({ maxHours: 8 })), 'scope.id'],
      [
        'an unknown time zone for a site',
        () => unary(directory.updateSite.bind(directory), { requestId: rid(), site: Site.fromPartial({ id: 'amsterdam', timezone: 'Mars/Olympus' }), updateMask: ['timezone'] }, { metadata }),
        'site.timezone',
      ],
    ]
    for (const [what, call, field] of cases) {
      const error = await callError(call())
      t.equal(error.code, status.INVALID_ARGUMENT, `${what}: INVALID_ARGUMENT`)
      t.equal(errorDetailOf(error)?.field, field, `${what}: names ${field}`)
    }
    t.same((await get(site('amsterdam'))).policy, policy({}), 'no policy was written by any of them')
    const unknown = await callError(set(site('nowhere'), policy({ maxHours: 8 })))
    t.equal(unknown.code, status.NOT_FOUND, 'a site that does not exist')
    const { site: amsterdam } = await unary(directory.getSite.bind(directory), { siteId: 'amsterdam' }, { metadata })
    t.equal(amsterdam?.timezone, 'Europe/Amsterdam', 'the site kept its time zone')
  })

  await t.test('most specific wins; the effective policy says where each value came from', async (t) => {
    await unary(directory.createUser.bind(directory), { requestId: rid(), user: worker('1001', { department: 'Sales ' }), pin: '4711' }, { metadata })
    await unary(directory.createUser.bind(directory), { requestId: rid(), user: worker('1002', { department: 'Support', maxSeatHours: 6 }), pin: '4711' }, { metadata })
    await unary(directory.createDevice.bind(directory), { requestId: rid(), device: Device.fromPartial({ id: 'ams-1', siteId: 'amsterdam', extension: '2001', label: 'desk 1', flexHost: true }) }, { metadata })
    await set(site('amsterdam'), policy({ maxHours: 10, dailySignOut: '19:00', warnMinutes: 10 }))
    await set({ level: PolicyLevel.POLICY_LEVEL_DEPARTMENT, id: 'sales' }, policy({ maxHours: 8, idleMinutes: 30, none: [PolicySetting.POLICY_SETTING_WARN_MINUTES] }))
    await set({ level: PolicyLevel.POLICY_LEVEL_USER, id: 'u1001' }, policy({ deferMaxMinutes: 60, none: [PolicySetting.POLICY_SETTING_DAILY_SIGN_OUT] }))

    const effective = async (userId: string) => (await unary(api.getEffectiveSeatPolicy.bind(api), { userId, siteId: '' }, { metadata: cluster.metadata('viewer') })).policy!
    const one = await effective('u1001')
    t.match(one, { maxHours: 8, dailySignOut: '', idleMinutes: 30, deferWhileInCall: true, deferMaxMinutes: 60, warnMinutes: 0, timeZone: 'Europe/Amsterdam' })
    const from = (p: typeof one) => Object.fromEntries(p.sources.map((s) => [PolicySetting[s.setting], `${PolicyLevel[s.scope!.level]}:${s.scope!.id}`]))
    t.same(from(one), {
      POLICY_SETTING_MAX_HOURS: 'POLICY_LEVEL_DEPARTMENT:sales',
      POLICY_SETTING_DAILY_SIGN_OUT: 'POLICY_LEVEL_USER:u1001',
      POLICY_SETTING_IDLE_MINUTES: 'POLICY_LEVEL_DEPARTMENT:sales',
      POLICY_SETTING_DEFER_WHILE_IN_CALL: 'POLICY_LEVEL_DEFAULT:',
      POLICY_SETTING_DEFER_MAX_MINUTES: 'POLICY_LEVEL_USER:u1001',
      POLICY_SETTING_WARN_MINUTES: 'POLICY_LEVEL_DEPARTMENT:sales',
    }, 'department matched ignoring case and blanks; none switches a setting off')
    const two = await effective('u1002')
    t.match(two, { maxHours: 6, dailySignOut: '19:00', warnMinutes: 10 }, "the user's max_seat_hours still limits (read as the user's max_hours)")
    t.equal(from(two)['POLICY_SETTING_MAX_HOURS'], 'POLICY_LEVEL_USER_MAX_SEAT_HOURS:u1002')

    // A login gets the deadlines, and may ask for less, never more.
    const login = (durationHours: number) => unary(seat.login.bind(seat), { requestId: rid(), deviceId: 'ams-1', extension: '1002', pin: '', durationHours }, { metadata })
    const more = (await login(20)).seat!
    t.equal((more.expiresAt!.getTime() - more.since!.getTime()) / 3_600_000, 6, 'asking for 20 h gets the 6 h the policy allows')
    const less = (await login(2)).seat!
    t.equal((less.expiresAt!.getTime() - less.since!.getTime()) / 3_600_000, 2, 'asking for 2 h gets 2 h')
    t.equal(less.dailySignOut, '19:00')
    const local = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Amsterdam', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(less.dailySignOutAt!)
    t.equal(local, '19:00', 'the daily sign-out is 19:00 in the site time zone')
    t.ok(less.dailySignOutAt!.getTime() > less.since!.getTime() && less.dailySignOutAt!.getTime() - less.since!.getTime() <= 25 * 3_600_000, 'the next one after the login')

    const removed = await unary(api.deleteSeatPolicy.bind(api), { requestId: rid(), scope: { level: PolicyLevel.POLICY_LEVEL_DEPARTMENT, id: 'SALES' } }, { metadata })
    t.same(removed, {})
    t.match(await effective('u1001'), { maxHours: 10, idleMinutes: 0 }, 'the department policy is gone: the site decides')
    const viewer = await callError(unary(api.setSeatPolicy.bind(api), { requestId: rid(), scope: site('amsterdam'), policy: policy({ maxHours: 1 }) }, { metadata: cluster.metadata('viewer') }))
    t.equal(viewer.code, status.PERMISSION_DENIED, 'a viewer may not set policies')
  })
})

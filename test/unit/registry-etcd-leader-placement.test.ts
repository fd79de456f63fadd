import t from 'tap'
import { join } from 'node:path'
import { loadRegistryConfig, MAX_RAFT_LAG, type MemberStatus, placementStep, RegistryConfigError } from '@flexseat/registry'

// What the leading registry does about etcd's leader (etcd-leader-placement.ts), decided from its
// own member's Status and the leader's; the calls themselves: test/integration/registry-etcd-leader-placement*.test.ts.

const own = (overrides: Partial<MemberStatus> = {}): MemberStatus => ({ memberId: '11', leader: '22', raftIndex: 500n, raftAppliedIndex: 500n, isLearner: false, errors: [], ...overrides })
const leader = (overrides: Partial<MemberStatus> = {}): MemberStatus => ({ memberId: '22', leader: '22', raftIndex: 510n, raftAppliedIndex: 510n, isLearner: false, errors: [], ...overrides })

t.test('leadership in place, or no leader known: nothing to do', async (t) => {
  t.same(placementStep(own({ leader: '11' }), undefined, true), { action: 'none', reason: 'in-place' })
  t.same(placementStep(own({ leader: '0' }), undefined, true), { action: 'none', reason: 'no-leader' }, 'an election under way')
})

t.test('the own member must be a healthy voter', async (t) => {
  t.same(placementStep(own({ isLearner: true }), leader(), true), { action: 'none', reason: 'own-learner' }, 'etcd refuses a learner')
  t.same(placementStep(own({ errors: ['memberID:11 alarm:NOSPACE'] }), leader(), true), { action: 'none', reason: 'own-alarm' })
  t.same(placementStep(own({ raftAppliedIndex: 510n - BigInt(MAX_RAFT_LAG) - 1n }), leader(), true), { action: 'none', reason: 'own-lagging' }, 'too far behind the leader')
  t.same(placementStep(own({ raftAppliedIndex: 510n - BigInt(MAX_RAFT_LAG) }), leader(), true), { action: 'move', from: '22', to: '11' }, 'at the bound: moved')
})

t.test('rate-limited: no look for the leader, no move', async (t) => {
  t.same(placementStep(own(), undefined, false), { action: 'none', reason: 'rate-limited' })
  t.same(placementStep(own(), leader(), false), { action: 'none', reason: 'rate-limited' })
})

t.test('the move goes to the member that answers as the leader', async (t) => {
  t.same(placementStep(own(), undefined, true), { action: 'find-leader' })
  t.same(placementStep(own(), leader(), true), { action: 'move', from: '22', to: '11' })
  t.same(placementStep(own(), null, true), { action: 'fail', reason: 'leader-unreachable' }, 'no endpoint answered as the leader')
  t.same(placementStep(own(), leader({ memberId: '33' }), true), { action: 'fail', reason: 'leader-unreachable' }, 'another member is no leader to ask')
})

t.test('FLEXSEAT_MOVE_ETCD_LEADER and its interval: defaults, overrides, bounds', async (t) => {
  const argv = ['--site', 'berlin', '--sites-dir', join(__dirname, '..', '..', 'sites')]
  t.same((await loadRegistryConfig(argv, {})).etcdLeaderPlacement, { enabled: false, minIntervalMs: 30_000 }, 'off by default, at most one move in 30 s')
  t.same((await loadRegistryConfig(argv, { FLEXSEAT_MOVE_ETCD_LEADER: 'true', FLEXSEAT_MOVE_ETCD_LEADER_INTERVAL_SECONDS: '5' })).etcdLeaderPlacement, { enabled: true, minIntervalMs: 5_000 })
  await t.rejects(loadRegistryConfig(argv, { FLEXSEAT_MOVE_ETCD_LEADER: 'yes' }), new RegistryConfigError('FLEXSEAT_MOVE_ETCD_LEADER: "yes" is not true or false'))
  await t.rejects(loadRegistryConfig(argv, { FLEXSEAT_MOVE_ETCD_LEADER_INTERVAL_SECONDS: '0' }), new RegistryConfigError('FLEXSEAT_MOVE_ETCD_LEADER_INTERVAL_SECONDS: "0" is not a whole number from 1 to 3600'))
})

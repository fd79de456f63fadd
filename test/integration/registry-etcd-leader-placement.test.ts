// etcd's raft leader beside the registry leader (FLEXSEAT_MOVE_ETCD_LEADER, etcd-leader-placement.ts),
// on a real 3-member etcd cluster and real registry processes: each instance lists its own member
// first, the leading one moves etcd's leadership there, and again when the registry leader changes;
// not twice within its interval.
// When etcd's leader moves away while it leads, and when a move fails:
// registry-etcd-leader-placement-failure.test.ts.
import t from 'tap'
import type { EtcdCluster } from '@flexseat/sim'
import { etcdLeader, memberStatus } from '../helpers/etcd-leader'
import { eventually, RegistryCluster } from '../helpers/registry-cluster'

// An hour between two moves: each instance's first move (when it is elected) is not held back.
const MOVE = { FLEXSEAT_MOVE_ETCD_LEADER: 'true', FLEXSEAT_MOVE_ETCD_LEADER_INTERVAL_SECONDS: '3600' }
const MOVED = "moved etcd leadership to this site's member"

/** `list` rotated to start at `from`: instance i lists member i first, as a branch lists its own. */
function rotate<T>(list: readonly T[], from: number): T[] {
  return [...list.slice(from), ...list.slice(0, from)]
}

const logged = (cluster: RegistryCluster, index: number, msg: string, since: number): boolean => cluster.instances[index]!.logs.slice(since).some((line) => line.includes(`"msg":"${msg}`))

t.test("the registry leader's member becomes etcd's leader, again after the registry leader changes", async (t) => {
  const cluster = await RegistryCluster.start({ env: MOVE, instanceEnv: (index, etcd) => ({ FLEXSEAT_ETCD_ENDPOINTS: rotate(etcd.endpoints, index).join(',') }) })
  t.teardown(() => cluster.stop())
  const first = await cluster.leader()
  await eventually(`etcd's leader at etcd-${first}`, async () => (await etcdLeader(cluster.etcd)) === `etcd-${first}`, 15_000, 100)

  // SIGTERM: the leader resigns at once. Its member still leads etcd; the successor's is another.
  const since = cluster.instances.map((i) => i.logs.length)
  await cluster.terminate(first)
  const next = await cluster.waitForLeader({ not: first })
  await eventually(`etcd's leader at etcd-${next}`, async () => (await etcdLeader(cluster.etcd)) === `etcd-${next}`, 15_000, 100)
  // etcd answers MoveLeader once the leadership moved: the line may come a moment after.
  t.ok(await eventually('the move logged', () => logged(cluster, next, MOVED, since[next]!), 5_000, 50), 'the new registry leader moved it there')
  t.equal(await cluster.waitForLeader(), next, 'the registry leadership stayed where it was')
  for (const index of cluster.live.filter((i) => i !== next)) t.notOk(logged(cluster, index, MOVED, since[index]!), `follower ${index} moved nothing`)

  // etcd moves its leadership elsewhere (as after an election): within the interval, the leader
  // leaves it there.
  const other = cluster.etcd.members.find((m) => m.name !== `etcd-${next}` && m.name !== `etcd-${first}`)!
  const target = await memberStatus(other.clientUrl)
  const mark = cluster.instances[next]!.logs.length
  const moved = await fetch(`${cluster.etcd.members[next]!.clientUrl}/v3/maintenance/transfer-leadership`, { method: 'POST', body: JSON.stringify({ targetID: target?.memberId }), signal: AbortSignal.timeout(10_000) })
  t.equal(moved.status, 200, `etcd moved its leadership to ${other.name}`)
  await cluster.waitForLog(next, (line) => line['reason'] === 'rate-limited', { since: mark, timeoutMs: 10_000 })
  t.equal(await etcdLeader(cluster.etcd), other.name, 'not moved back within the interval')
  t.notOk(logged(cluster, next, MOVED, mark), 'no move tried')
})

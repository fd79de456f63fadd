// etcd's raft leader beside the registry leader (FLEXSEAT_MOVE_ETCD_LEADER, etcd-leader-placement.ts),
// on a real 3-member etcd cluster and a real registry process: a move that fails (the WAN to etcd's
// leader is cut) leaves the registry's leadership as it was; once healed, the leading instance moves
// etcd's leadership back to its own member.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { unary } from '@flexseat/proto'
import { type EtcdCluster, WanRelay } from '@flexseat/sim'
import { etcdLeader, memberStatus } from '../helpers/etcd-leader'
import { eventually, RegistryCluster, worker } from '../helpers/registry-cluster'

const MOVE = { FLEXSEAT_MOVE_ETCD_LEADER: 'true', FLEXSEAT_MOVE_ETCD_LEADER_INTERVAL_SECONDS: '1' }
const MOVED = "moved etcd leadership to this site's member"
const FAILED = "could not move etcd leadership to this site's member: no endpoint reaches etcd's leader"

const logged = (cluster: RegistryCluster, index: number, msg: string, since: number): boolean => cluster.instances[index]!.logs.slice(since).some((line) => line.includes(`"msg":"${msg}`))

t.test("a move that fails leaves the registry's leadership as it was; healed, the leader moves etcd's leadership back", async (t) => {
  // One instance (amsterdam): its own member directly, the two others through relays the test cuts.
  const relays: WanRelay[] = []
  t.teardown(() => Promise.all(relays.map((relay) => relay.close())))
  const cluster = await RegistryCluster.start({
    instances: 1,
    env: MOVE,
    instanceEnv: async (_index, etcd) => {
      if (relays.length === 0) {
        for (const member of etcd.members.slice(1)) {
          const port = Number(new URL(member.clientUrl).port)
          relays.push(await WanRelay.start({ routes: [{ protocol: 'tcp', listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port } }] }))
        }
      }
      return { FLEXSEAT_ETCD_ENDPOINTS: [etcd.members[0]!.clientUrl, ...relays.map((relay) => `http://127.0.0.1:${relay.address(0).port}`)].join(',') }
    },
  })
  t.teardown(() => cluster.stop())
  const leaderId = cluster.instances[0]!.instanceId
  t.equal(await cluster.leader(), 0)
  await eventually("etcd's leader at etcd-0", async () => (await etcdLeader(cluster.etcd)) === 'etcd-0', 15_000, 100)

  // The WAN to the other members' sites is cut (their raft traffic is not); etcd moves its
  // leadership to etcd-1 on its own (as after an election).
  for (const relay of relays) relay.cut()
  const since = cluster.instances[0]!.logs.length
  const target = await memberStatus(cluster.etcd.members[1]!.clientUrl)
  const moved = await fetch(`${cluster.etcd.members[0]!.clientUrl}/v3/maintenance/transfer-leadership`, { method: 'POST', body: JSON.stringify({ targetID: target?.memberId }), signal: AbortSignal.timeout(10_000) })
  t.equal(moved.status, 200, 'etcd moved its leadership to etcd-1')
  await eventually('a failed move', () => logged(cluster, 0, FAILED, since), 15_000, 100)

  const status = await cluster.status(0)
  t.equal(status.leader?.instanceId, leaderId, 'the instance still leads')
  const { directory } = cluster.clients(0)
  const user = await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker('4711'), pin: '1234' }, { metadata: cluster.metadata('admin'), timeoutMs: 10_000 })
  t.equal(user.user?.extension, '4711', 'and writes')
  t.notOk(logged(cluster, 0, 'lost leadership', since), 'it never lost its leadership')
  t.equal(await etcdLeader(cluster.etcd), 'etcd-1', "etcd's leader stayed where etcd put it")

  for (const relay of relays) relay.heal()
  await eventually("etcd's leader back at etcd-0", async () => (await etcdLeader(cluster.etcd)) === 'etcd-0', 15_000, 100)
  t.ok(await eventually('the move logged', () => logged(cluster, 0, MOVED, since), 5_000, 50), 'the leading instance moved it back')
  t.equal((await cluster.status(0)).leader?.instanceId, leaderId, 'and still leads')
})

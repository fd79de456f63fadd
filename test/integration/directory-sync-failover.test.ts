// The leader moving mid-sync: two real registry processes, a real etcd and slapd. The leader is
// killed (SIGKILL) while it writes a sync of 3,000 new entries in fenced parts; the other instance
// is elected and syncs in full on being elected. Afterwards every entry is exactly one user,
// every user whole (its record and its extension record), nothing created twice, and the new
// leader's run says how much it found done.
import t from 'tap'
import { createEtcdClient } from '@flexseat/registry'
import { DirectorySyncState } from '@flexseat/proto'
import { startSyncCluster } from '../helpers/directory-sync'
import { type Person, Slapd } from '../helpers/ldap'
import { eventually } from '../helpers/registry-cluster'

// Outwaits the election lease (3 s) of the killed leader, on top of two syncs of 3,000 entries.
t.setTimeout(90_000)

const N = 3_000

t.test('the leader is killed during a sync: the new leader finishes it, nothing doubled or half-written', async (t) => {
  const slapd = await Slapd.start()
  t.teardown(() => slapd.stop())
  const { cluster, sync } = await startSyncCluster(slapd, { instances: 2 })
  t.teardown(async () => {
    sync.close()
    await cluster.stop()
  })
  const etcd = createEtcdClient(cluster.etcd.endpoints)
  t.teardown(() => etcd.close())
  const users = `${cluster.prefix}users/`
  const count = async (): Promise<number> => etcd.getAll().prefix(users).count()
  await eventually('the sites exist', async () => (await etcd.getAll().prefix(`${cluster.prefix}sites/`).count()) === 2)

  const people: Person[] = Array.from({ length: N }, (_, i) => ({ username: `w${10_000 + i}`, ipPhone: String(10_000 + i), department: i % 2 === 0 ? 'Sales' : 'Support' }))
  await slapd.addMany(people)
  const leader = await cluster.leader()
  const other = leader === 0 ? 1 : 0
  const oldLeaderId = cluster.instances[leader]!.instanceId
  // Asked through the follower, which forwards it; the answer does not matter (its leader dies).
  void sync.sync(other, { timeoutMs: 1_500 }).catch(() => undefined)
  await eventually('the first parts are written', async () => (await count()) > 0, 20_000, 2)
  await cluster.kill(leader)
  const before = await count()
  t.ok(before > 0 && before < N, `killed mid-sync: ${before} of ${N} users written`)

  const newLeader = await cluster.waitForLeader({ on: [other] })
  t.equal(newLeader, other)
  const run = await eventually('the new leader\'s sync ended', async () => {
    const last = (await sync.status(other)).last
    return last !== undefined && last.instanceId === cluster.instances[other]!.instanceId ? last : undefined
  }, 40_000)
  t.match(run, { state: DirectorySyncState.DIRECTORY_SYNC_STATE_SUCCEEDED, entries: N, conflictCount: 0 })
  t.equal(run.created + run.unchanged, N, 'every entry either created now or found done')
  t.ok(run.unchanged >= before, `what the killed leader wrote is found done (${run.unchanged}), not written again`)
  t.not(run.instanceId, oldLeaderId)
  t.equal((await sync.status(other)).current, undefined, 'the killed leader\'s run is no longer shown as under way')

  // Every entry is exactly one user, written whole: its record and its extension record.
  const records = (await etcd.getAll().prefix(users).exec()).kvs.map((kv) => JSON.parse(kv.value.toString()) as { id: string; extension: string; source?: string; directoryKey?: string; homeSiteId: string; username?: string })
  t.equal(records.length, N, 'one user per entry')
  const extensions = new Map((await etcd.getAll().prefix(`${cluster.prefix}ext/`).exec()).kvs.map((kv) => [kv.key.toString().slice(`${cluster.prefix}ext/`.length), kv.value.toString()]))
  t.equal(extensions.size, N, 'one extension record per user, none left over')
  const byKey = new Set<string>()
  let whole = 0
  for (const record of records) {
    byKey.add(record.directoryKey ?? '')
    if (record.source === 'directory' && extensions.get(record.extension) === `user:${record.id}` && record.homeSiteId === (Number(record.extension) % 2 === 0 ? 'berlin' : 'amsterdam') && record.username === record.id) whole += 1
  }
  t.equal(whole, N, 'every user whole: record, extension record, template')
  t.equal(byKey.size, N, 'no entry created twice')
})

import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EtcdCluster, isHealthy, TetheredProcess } from '@flexseat/sim'

t.test('a three-member cluster starts, survives one member killed, and stops every process', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'flexseat-etcd-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const cluster = await EtcdCluster.start({ members: 3, dataDir })
  t.teardown(() => cluster.stop())
  const pids = cluster.members.map((m) => m.process!.pid)
  t.equal(new Set(pids).size, 3, 'three etcd processes')
  for (const m of cluster.members) t.ok(await isHealthy(m.clientUrl), `${m.name} healthy`)

  const [first, second] = cluster.members
  await cluster.kill(first!.name)
  t.notOk(first!.process!.running, 'killed member is gone')
  await cluster.waitHealthy()
  t.ok(await isHealthy(second!.clientUrl), 'the other two keep a quorum')

  await cluster.restart(first!.name)
  t.ok(await isHealthy(first!.clientUrl), 'restarted member rejoins on its data')

  await cluster.stop()
  for (const pid of [...pids.slice(1), cluster.members[0]!.process!.pid]) {
    t.throws(() => process.kill(pid, 0), 'every member process has ended')
  }
})

t.test('a tethered child dies with its parent, even when the parent is killed with SIGKILL', async (t) => {
  // The parent is a node process that tethers `sleep 60` and then waits to be killed.
  const script = `
    const { TetheredProcess } = require('@flexseat/sim')
    TetheredProcess.spawn('sleep', ['60']).then((p) => { console.log(p.pid); setInterval(() => {}, 1000) })
  `
  const parent = await TetheredProcess.spawn(process.execPath, ['-e', script])
  t.teardown(() => parent.kill())
  const childPid = await new Promise<number>((resolve) => {
    parent.stdout.setEncoding('utf8')
    parent.stdout.once('data', (line: string) => resolve(Number.parseInt(line, 10)))
  })
  t.doesNotThrow(() => process.kill(childPid, 0), 'grandchild runs')
  await parent.kill()
  const deadline = Date.now() + 5_000
  let alive = true
  while (alive && Date.now() < deadline) {
    try {
      process.kill(childPid, 0)
      await new Promise((resolve) => setTimeout(resolve, 50))
    } catch {
      alive = false
    }
  }
  t.notOk(alive, 'grandchild was killed when its parent died')
})

t.test('pause and resume reach the etcd process itself', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'flexseat-etcd-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const cluster = await EtcdCluster.start({ members: 1, dataDir })
  t.teardown(() => cluster.stop())
  const [member] = cluster.members
  cluster.pause(member!.name)
  t.notOk(await isHealthy(member!.clientUrl), 'a paused member does not answer')
  cluster.resume(member!.name)
  await cluster.waitHealthy(5_000)
  t.ok(await isHealthy(member!.clientUrl), 'it answers again after SIGCONT')
})

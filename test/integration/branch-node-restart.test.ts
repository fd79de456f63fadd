// A branch's SIP node that crashed and was started again (real etcd, registry, engine and node
// processes): with a state folder, the new process knows its predecessor is dead, releases that
// process' confirmation lease and holds the lease at once, instead of being refused LEASE_HELD
// until the dead process' lease (30 s here) expires.
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Branches } from '../helpers/branches'

t.setTimeout(60_000)

const SITE = 'amsterdam'
const LEASE_SECONDS = 30

// Guard tried: the takeOverFromDeadPredecessor call left out of SipNode.start: the restarted node
// is refused LEASE_HELD and `lease active` does not come within 15 s.
t.test('a node restarted after a crash takes its branch lease over at once', async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'flexseat-node-state-'))
  t.teardown(() => rm(stateDir, { recursive: true, force: true }))
  const branches = await Branches.start(t, { sites: [SITE], confirmationLeaseSeconds: LEASE_SECONDS, nodeEnv: { FLEXSEAT_SIP_NODE_STATE_DIR: stateDir } })
  const holder = async (): Promise<string | undefined> => (await branches.registry.status(0)).branches.find((b) => b.siteId === SITE)?.nodeId
  const first = await holder()
  t.match(first, /^amsterdam-[0-9a-f]{8}$/, 'the first node holds the lease')

  await branches.killNode(SITE)
  const mark = branches.nodeLogMark(SITE)
  const restartedAt = Date.now()
  await branches.startNode(SITE, { timeoutMs: 15_000 })
  t.comment(`lease active ${Date.now() - restartedAt} ms after the restart began (the dead process' lease had ${LEASE_SECONDS} s)`)
  const released = branches.nodeLogsMatching(SITE, (l) => l.msg === 'released the lease of the previous process of this node (it is dead)', mark)
  t.equal(released[0]?.['previous'], first, "the new process released the dead one's lease")
  const second = await holder()
  t.not(second, first, 'and holds the lease under its own node id')
  t.match(second, /^amsterdam-[0-9a-f]{8}$/)
})

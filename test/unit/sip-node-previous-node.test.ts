import t from 'tap'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { claimNodeRecord, processExists } from '@flexseat/sip-node'

// Who ran this branch's node before on this host, and whether it is dead (its lease may then be
// released at once). Tested against the real process table: this process is alive, a pid past
// the kernel's limit is not.

const DEAD_PID = 4_194_305 // above pid_max (at most 2^22): no such process can exist

t.test('the record tells a dead predecessor from a live one', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sip-node-state-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  t.equal(processExists(process.pid), true)
  t.equal(processExists(DEAD_PID), false)

  t.same(await claimNodeRecord(dir, { siteId: 'berlin', nodeId: 'berlin-00000001', pid: DEAD_PID }), { kind: 'none' }, 'first start: nothing before')
  t.match(JSON.parse(await readFile(join(dir, 'node.json'), 'utf8')), { siteId: 'berlin', nodeId: 'berlin-00000001', pid: DEAD_PID }, 'recorded')
  t.same(await claimNodeRecord(dir, { siteId: 'berlin', nodeId: 'berlin-00000002', pid: 12 }), { kind: 'dead', nodeId: 'berlin-00000001', pid: DEAD_PID }, 'its pid is gone: dead')
  t.same(await claimNodeRecord(dir, { siteId: 'berlin', nodeId: 'berlin-00000003', pid: 12 }), { kind: 'dead', nodeId: 'berlin-00000002', pid: 12 }, 'its pid is now our own (a restarted container): dead')

  await writeFile(join(dir, 'node.json'), JSON.stringify({ siteId: 'berlin', nodeId: 'berlin-00000004', pid: process.pid, startedAt: '' }))
  t.same(await claimNodeRecord(dir, { siteId: 'berlin', nodeId: 'berlin-00000005', pid: 12 }), { kind: 'alive', nodeId: 'berlin-00000004', pid: process.pid }, 'a process with its pid runs: never taken over')
  t.same(await claimNodeRecord(dir, { siteId: 'amsterdam', nodeId: 'amsterdam-00000001', pid: 13 }), { kind: 'none' }, "another site's record is not ours to act on")
  await writeFile(join(dir, 'node.json'), 'not json')
  t.same(await claimNodeRecord(dir, { siteId: 'amsterdam', nodeId: 'amsterdam-00000002', pid: 14 }), { kind: 'none' }, 'an unreadable record: nothing')
  t.match(JSON.parse(await readFile(join(dir, 'node.json'), 'utf8')), { nodeId: 'amsterdam-00000002', pid: 14 }, 'and it is replaced by ours')
})

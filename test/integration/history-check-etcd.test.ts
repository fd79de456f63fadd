// The history checkers on a real etcd and a real registry core (issue 13): the run's seat
// history is replayed from etcd (readSeatHistory: a range before the run, a watch from its first
// revision), a registry's own logins, takeover across branches (pending, acknowledged), bump and
// logout pass every checker, and a double seat planted in etcd the way the registry writes
// seats is found at its revision; so is an acknowledged login whose seat a stray write undid.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { type LoginResponse, ReleaseReason } from '@flexseat/proto'
import { checkRun, type Operation, type WatchEvent } from '@flexseat/history-check'
import { ADMIN, SIP_NODE, freshPrefix, revisionOf, rid, startEtcd, waitFor } from '../helpers/registry-core-harness'
import { branchNode, seedBranches, startRevocationCore } from '../helpers/registry-revocation'

t.setTimeout(60_000)

const PINS: Record<string, string> = { '1001': '73519284', '1002': '46281937' }

t.test('replaying a real registry run: it passes; a planted double seat and a lost sign-in are caught', async (t) => {
  const cluster = await startEtcd(t, 1)
  const prefix = freshPrefix()
  const { core, etcd, keys } = await startRevocationCore(t, cluster.endpoints, { prefix, site: 'amsterdam', confirmationLeaseSeconds: 5 })
  await seedBranches(core)
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-check-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))

  // A watching client, as the chaos runner records it.
  const watch: WatchEvent[] = []
  const controller = new AbortController()
  t.teardown(() => controller.abort())
  const fromRevision = Number(await revisionOf(etcd)) + 1
  const watching = (async () => {
    for await (const m of core.watchSeats({ afterRevision: String(fromRevision - 1), siteId: '' }, controller.signal)) {
      if (m.message?.$case !== 'changes') continue
      for (const e of m.message.value.events) watch.push({ client: 'grpc:watch', atMs: Date.now(), revision: Number(m.message.value.revision), userId: e.seat!.userId, deviceId: e.type === 1 ? e.seat!.deviceId : null, type: e.type === 1 ? 'SEATED' : 'RELEASED' })
    }
  })().catch(() => undefined)

  const ops: Operation[] = []
  const timed = async <T>(op: Omit<Operation, 'invokeMs' | 'completeMs' | 'outcome'>, call: () => Promise<T>, result?: (r: T) => Operation['result']): Promise<T> => {
    const invokeMs = Date.now()
    const r = await call()
    ops.push({ ...op, invokeMs, completeMs: Date.now(), outcome: 'ok', ...(result ? { result: result(r) } : {}) })
    return r
  }
  const login = (userId: string, extension: string, deviceId: string, id = rid('login')) =>
    timed<LoginResponse>({ id, process: `grpc:${userId}`, kind: 'login', userId, deviceId, via: 'grpc' }, () => core.login({ requestId: id, deviceId, extension, pin: PINS[extension]!, durationHours: 0 }, SIP_NODE, { deadline: Date.now() + 20_000 }))
  const readSeat = (userId: string) =>
    timed({ id: rid('read'), process: `grpc:${userId}`, kind: 'read', userId, deviceId: '', via: 'grpc' }, () => core.getSeat({ target: { $case: 'userId', value: userId } }), (r) => ({ deviceId: r.seat?.deviceId ?? null }))

  // Amsterdam's node holds a confirmation lease: alice's move to Berlin waits for its ack.
  const ams = branchNode(core, 'amsterdam')
  await ams.renew()
  const first = await login('alice', '1001', 'ams-1')
  const moving = login('alice', '1001', 'ber-1')
  await waitFor(async () => (await core.getSeat({ target: { $case: 'userId', value: 'alice' } })).seat?.pending.length === 1, 5_000, 'the pending seat')
  await ams.ack([{ userId: 'alice', epoch: first.seat!.epoch }])
  await moving
  await readSeat('alice')
  await login('bob', '1002', 'ams-2')
  await login('bob', '1002', 'ber-1') // bumps alice
  await readSeat('alice')
  await timed({ id: rid('logout'), process: 'grpc:bob', kind: 'logout', userId: 'bob', deviceId: '', via: 'grpc' }, () => core.logout({ requestId: rid(), target: { $case: 'userId', value: 'bob' }, reason: ReleaseReason.RELEASE_REASON_LOGOUT }, ADMIN))
  await readSeat('bob')
  await ams.release()
  const toRevision = Number(await revisionOf(etcd))
  await waitFor(() => watch.length > 0 && watch[watch.length - 1]!.revision >= Math.max(...watch.map((w) => w.revision)), 5_000)

  const write = async (records: { ops: Operation[]; to: number }) => {
    await writeFile(join(dir, 'history.jsonl'), records.ops.map((o) => JSON.stringify(o)).join('\n') + '\n')
    await writeFile(join(dir, 'watch.jsonl'), watch.map((w) => JSON.stringify(w)).join('\n') + '\n')
    await writeFile(join(dir, 'etcd.json'), JSON.stringify({ endpoints: cluster.endpoints, prefix, fromRevision, toRevision: records.to }))
  }
  await write({ ops, to: toRevision })
  const clean = await checkRun(dir)
  t.same(clean.violations, [], 'the registry\'s own run passes every checker')
  t.same(clean.unknown, [])
  t.ok(clean.checked['uniqueness']! >= toRevision - fromRevision + 2, `uniqueness checked ${clean.checked['uniqueness']} revisions`)
  t.equal(clean.checked['acknowledged-sign-ins'], 4, 'four acknowledged logins')
  t.equal(clean.checked['linearizability'], ops.length)
  t.ok(clean.checked['watch-streams']! >= 6, 'the watch stream was compared')

  // Planted: a valid seat for alice at ber-2, written as the registry writes one (seat and host
  // key in one transaction), then a second worker's seat at the same desk.
  const seat = (userId: string, deviceId: string, siteId: string) => JSON.stringify({ userId, extension: '9', displayName: userId, deviceId, siteId, since: new Date().toISOString(), via: 'admin' })
  await etcd.kv.txn({ success: [{ request_put: { key: Buffer.from(keys.seat('alice')), value: Buffer.from(seat('alice', 'ber-2', 'berlin')) } }, { request_put: { key: Buffer.from(keys.host('ber-2')), value: Buffer.from('alice') } }] })
  const doubled = await etcd.kv.txn({ success: [{ request_put: { key: Buffer.from(keys.seat('mallory')), value: Buffer.from(seat('mallory', 'ber-2', 'berlin')) } }] })
  const doubleAt = Number(doubled.header.revision)
  const end = Number(await revisionOf(etcd))
  await write({ ops, to: end })
  const dirty = await checkRun(dir)
  const uniq = dirty.violations.filter((v) => v.checker === 'uniqueness')
  t.ok(uniq.some((v) => v.message === `revision ${doubleAt}: desk ber-2 carries 2 workers (alice, mallory)`), 'the double seat is found at its revision')
  t.same(uniq.map((v) => v.message), [`revision ${doubleAt}: desk ber-2 carries 2 workers (alice, mallory)`, `revision ${doubleAt}: seats/mallory is at ber-2 but hosts/ber-2 is alice`], 'found there and nowhere else')

  // A lost sign-in: bob's acknowledged login undone by a stray deletion with no reason.
  await login('bob', '1002', 'ams-2', 'req-bob-last')
  await etcd.kv.txn({ success: [{ request_delete_range: { key: Buffer.from(keys.seat('bob')) } }, { request_delete_range: { key: Buffer.from(keys.host('ams-2')) } }] })
  await write({ ops, to: Number(await revisionOf(etcd)) })
  const lost = await checkRun(dir)
  t.ok(lost.violations.some((v) => v.checker === 'acknowledged-sign-ins' && v.ops?.includes('req-bob-last') && /deleted with no release reason/.test(v.message)), 'the lost sign-in is found')
  controller.abort()
  await watching
})

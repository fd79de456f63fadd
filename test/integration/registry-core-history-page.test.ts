// A login trims the worker's seat history from the count and the oldest keys (seat-history.ts
// HistoryPage), read with the writer's first read when the leader guessed the extension's owner:
// over real etcd, with a history longer than the page, the bound holds exactly and the newest
// records stay; and a login whose owner was guessed makes two etcd calls, its read and its
// transaction (before: a third, a range returning every one of the worker's history keys).
import { AsyncLocalStorage } from 'node:async_hooks'
import t from 'tap'
import { HISTORY_PAGE, Keys } from '@flexseat/registry'
import { ADMIN, freshPrefix, leaderOf, rid, seed, startCore, startEtcd } from '../helpers/registry-core-harness'

t.setTimeout(60_000)

const SIZE = HISTORY_PAGE + 4

// Guards tried: loginRanges returning none (the page read by the plan, as for an unguessed owner):
// the calls assertion fails (3 calls per login, a range beside the two); TxnReader.range taking
// any range read beforehand, not the one asked for: the stale guess deletes ada's oldest record.
t.test('the history bound over a page, and two etcd calls per login', async (t) => {
  const cluster = await startEtcd(t, 1)
  const prefix = freshPrefix()
  const keys = new Keys(prefix)
  const a = await startCore(t, cluster.endpoints, { prefix, site: 'amsterdam', seatHistory: { size: SIZE, retentionSeconds: 3_600 } })
  const { core, etcd } = await leaderOf([a])
  await seed(core, { sites: ['amsterdam'], devices: ['d1', 'd2'].map((id) => ({ id, site: 'amsterdam' })), users: [{ id: 'ada', extension: '1001', site: 'amsterdam', pin: '7351' }] })

  // The etcd calls made on behalf of one login (by async context), and every range of the history.
  const inLogin = new AsyncLocalStorage<string[]>()
  const historyRanges: { limit: string | number | undefined; keysOnly: boolean | undefined }[] = []
  const { range, txn } = { range: etcd.kv.range.bind(etcd.kv), txn: etcd.kv.txn.bind(etcd.kv) }
  const noteRange = (req: { key?: Buffer; limit?: string | number; keys_only?: boolean }): void => {
    if (req.key?.toString('utf8').startsWith(keys.seatHistory('ada')) === true) historyRanges.push({ limit: req.limit, keysOnly: req.keys_only })
  }
  etcd.kv.range = (req, options) => {
    inLogin.getStore()?.push('range')
    noteRange(req)
    return range(req, options)
  }
  etcd.kv.txn = (req, options) => {
    inLogin.getStore()?.push('txn')
    for (const op of req.success ?? []) if (op.request_range !== undefined) noteRange(op.request_range)
    return txn(req, options)
  }
  t.teardown(() => {
    etcd.kv.range = range
    etcd.kv.txn = txn
  })

  const starts: string[] = []
  const callsOf: string[][] = []
  for (let i = 0; i < SIZE + 10; i += 1) {
    const calls: string[] = []
    const res = await inLogin.run(calls, () => core.login({ requestId: rid(), deviceId: `d${1 + (i % 2)}`, extension: '1001', pin: '', durationHours: 0 }, ADMIN))
    starts.push(res.seat!.since!.toISOString())
    callsOf.push(calls)
    const count = Number((await range({ key: Buffer.from(keys.seatHistory('ada')), range_end: prefixEnd(keys.seatHistory('ada')), count_only: true })).count)
    if (count !== Math.min(i + 1, SIZE)) t.fail(`after login ${i + 1}: ${count} records, ${Math.min(i + 1, SIZE)} due`)
  }
  etcd.kv.range = range
  etcd.kv.txn = txn
  const records = (await core.listSeatHistory({ userId: 'ada', limit: 0 })).records
  t.equal(records.length, SIZE, `exactly the bound (${SIZE}) after ${SIZE + 10} logins`)
  t.same(records.map((r) => r.start?.toISOString()), starts.slice(-SIZE).reverse(), 'the newest records, newest first; the oldest trimmed')
  t.equal(records[0]?.end, undefined, 'the seat held is the newest, without an end')
  t.same(historyRanges.filter((r) => String(r.limit) !== String(HISTORY_PAGE) || r.keysOnly !== true), [], `every history read on the login path: keys only, at most ${HISTORY_PAGE}`)
  // Extension 1001 changes hands: the leader still guesses ada and reads her page with the first
  // read; bob's login must trim by his own page (ada's, full, would delete her oldest record).
  const count = async (userId: string) => Number((await range({ key: Buffer.from(keys.seatHistory(userId)), range_end: prefixEnd(keys.seatHistory(userId)), count_only: true })).count)
  await core.deleteUser({ requestId: rid(), userId: 'ada' }, ADMIN)
  await seed(core, { sites: [], devices: [], users: [{ id: 'bob', extension: '1001', site: 'amsterdam', pin: '4628' }] })
  t.equal(await count('ada'), SIZE, "ada's history stays after her deletion")
  t.equal((await core.login({ requestId: rid(), deviceId: 'd1', extension: '1001', pin: '', durationHours: 0 }, ADMIN)).seat?.userId, 'bob')
  t.equal(await count('ada'), SIZE, "a stale guess of the owner trims nothing of the guessed worker's history")
  t.equal(await count('bob'), 1, "bob's first record")
  // The first login had no guess at all, the second none of d2's site (its policy keys); from the
  // third on the leader has seen the worker, both desks and their site.
  t.same([...new Set(callsOf.slice(2).map((calls) => calls.join(',')))], ['txn,txn'], 'a guessed login: one read (a txn of ranges with the history page) and its transaction')
})

function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix)
  end[end.length - 1]! += 1
  return end
}

// Group commit (group-commit.ts) against a real etcd: members submitted while a transaction is in
// flight go together as one fenced transaction, each nested with its own compares; a member whose
// compare fails writes none of its keys while the others of its batch commit; a failed fence
// writes nothing of anyone; members that touch each other's keys are never batched together.
// Then through the fenced writer: a stale member is retried alone on fresh reads and gets the
// answer it would have got alone, the others committing once.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import pino from 'pino'
import type { Etcd3, ICompare, IRequestOp } from 'etcd3'
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import { Keys, createEtcdClient } from '@flexseat/registry'
import { FencedWriter } from '../../packages/registry/src/fenced-writer'
import { GroupCommit, type MemberResult, type MemberTxn } from '../../packages/registry/src/group-commit'
import { RequestLease } from '../../packages/registry/src/idempotency'
import { Leadership } from '../../packages/registry/src/leadership'
import { DEFAULT_TXN_LIMITS } from '../../packages/registry/src/txn-limits'
import { freshPrefix, startEtcd, waitFor } from '../helpers/registry-core-harness'

t.setTimeout(40_000)

const put = (key: string, value: string): IRequestOp => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } })
const absent = (key: string): ICompare => ({ key: Buffer.from(key), target: 'Create', result: 'Equal', create_revision: '0' })
const modIs = (key: string, revision: string): ICompare => ({ key: Buffer.from(key), target: 'Mod', result: 'Equal', mod_revision: revision })
const range = (key: string): IRequestOp => ({ request_range: { key: Buffer.from(key) } })

/** A member as the fenced writer builds one: its request record absent, its reads unchanged; writes and the record; the record read on failure. */
function member(request: string, compares: ICompare[], writes: [string, string][]): MemberTxn {
  return { compare: [absent(request), ...compares], success: [...writes.map(([k, v]) => put(k, v)), put(request, 'record')], failure: [range(request)] }
}

async function value(etcd: Etcd3, key: string): Promise<{ value: string; mod: string; version: string } | undefined> {
  const kv = (await etcd.kv.range({ key: Buffer.from(key) })).kvs[0]
  return kv ? { value: kv.value.toString(), mod: kv.mod_revision, version: kv.version } : undefined
}

t.test('group commit on a real etcd', async (t) => {
  const cluster = await startEtcd(t, 1)
  const etcd = createEtcdClient(cluster.endpoints, { callTimeoutMs: 5_000 })
  t.teardown(() => etcd.close())
  const keys = new Keys(freshPrefix())
  const logger = pino({ level: 'silent' })
  const leadership = new Leadership(etcd, keys, { instanceId: 'group-commit-test', siteId: 'amsterdam', address: '127.0.0.1:1' }, 5, logger)
  t.teardown(() => leadership.stop())
  leadership.start()
  await waitFor(() => leadership.isLeader, 10_000, 'leadership')
  const fence = leadership.fence()!
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
  const provider = new MeterProvider({ readers: [reader] })
  t.teardown(() => provider.shutdown())
  const group = new GroupCommit({ etcd, limits: DEFAULT_TXN_LIMITS, what: 'test', meter: provider.getMeter('test') })
  const k = (name: string): string => `${keys.prefix}t/${name}`

  // Guard tried: the nested transactions sent without their compares (`request_txn: { ...e.txn,
  // compare: [] }`): the stale member's key b lands, and this test fails.
  t.test('a batch with one failing compare: that member writes nothing, the others commit', async (t) => {
    await etcd.put(k('s')).value('old')
    const seen = (await value(etcd, k('s')))!.mod
    await etcd.put(k('s')).value('new') // the stale member read `s` before this
    // All in one tick: the first goes alone at once, the three others wait for it and go together.
    const results = await Promise.all([
      group.commit(fence, member(k('r0'), [], [[k('zero'), '0']])),
      group.commit(fence, member(k('rA'), [absent(k('a'))], [[k('a'), 'A']])),
      group.commit(fence, member(k('rB'), [modIs(k('s'), seen)], [[k('b'), 'B'], [k('s2'), 'B']])),
      group.commit(fence, member(k('rC'), [absent(k('c'))], [[k('c'), 'C']])),
    ])
    t.same(results.map((r) => [r.kind, r.batchSize]), [['committed', 1], ['committed', 3], ['conflict', 3], ['committed', 3]], 'the first alone, then A, B, C in one batch; only B conflicts')
    const [, a, b, c] = results as [MemberResult, Extract<MemberResult, { kind: 'committed' }>, Extract<MemberResult, { kind: 'conflict' }>, Extract<MemberResult, { kind: 'committed' }>]
    t.equal(a.revision, c.revision, 'A and C committed in the same transaction')
    t.equal(b.failure[0]?.response_range.kvs.length, 0, "B's failure operations ran: its request record is absent")
    t.equal(await value(etcd, k('b')), undefined, "none of B's writes landed (b)")
    t.equal(await value(etcd, k('s2')), undefined, "none of B's writes landed (s2)")
    t.equal(await value(etcd, k('rB')), undefined, "B's request record was not written")
    for (const [key, v] of [['a', 'A'], ['c', 'C'], ['rA', 'record'], ['rC', 'record']] as const) {
      t.same(await value(etcd, k(key)), { value: v, mod: a.revision, version: '1' }, `${key} written once, at the batch's revision`)
    }
    t.equal((await value(etcd, k('s')))?.value, 'new', 'the key B read is as the other writer left it')
  })

  // Guard tried: the fence's compare left out of a batch: A and C were written by a deposed leader.
  t.test('a failed fence writes nothing of any member', async (t) => {
    const stale = { key: fence.key, createRevision: String(BigInt(fence.createRevision) + 1000n) }
    const results = await Promise.all(['f0', 'f1', 'f2'].map((name) => group.commit(stale, member(k(`r-${name}`), [], [[k(name), name]]))))
    t.same(results.map((r) => r.kind), ['fence-lost', 'fence-lost', 'fence-lost'])
    t.same(results.map((r) => r.batchSize), [1, 2, 2], 'one alone, then a batch of two')
    for (const name of ['f0', 'f1', 'f2', 'r-f0', 'r-f1', 'r-f2']) t.equal(await value(etcd, k(name)), undefined, `${name} not written`)
  })

  // Guard tried: Footprint.overlaps answering false: the two writers of x go in one batch, and etcd
  // refuses it (duplicate key), so both commits reject; the write-skew pair both commit.
  t.test('members touching the same keys are not batched together', async (t) => {
    const results = await Promise.all([
      group.commit(fence, member(k('rq0'), [], [[k('q0'), '0']])),
      group.commit(fence, member(k('rx1'), [absent(k('x'))], [[k('x'), '1']])),
      group.commit(fence, member(k('rx2'), [absent(k('x'))], [[k('x'), '2']])),
      // Write skew: each reads (compares) what the other writes; alone in turn, only one can commit.
      group.commit(fence, member(k('rp'), [absent(k('q'))], [[k('p'), 'P']])),
      group.commit(fence, member(k('rq'), [absent(k('p'))], [[k('q'), 'Q']])),
      // Two readers of the same key that neither writes do go together.
      group.commit(fence, member(k('rm1'), [absent(k('shared'))], [[k('m1'), '1']])),
      group.commit(fence, member(k('rm2'), [absent(k('shared'))], [[k('m2'), '2']])),
    ])
    const [, x1, x2, p, q, m1, m2] = results
    t.same([x1!.kind, x2!.kind].sort(), ['committed', 'conflict'], 'one writer of x commits, the other conflicts')
    t.equal((await value(etcd, k('x')))?.version, '1', 'x written once')
    t.same([p!.kind, q!.kind].sort(), ['committed', 'conflict'], 'of the write-skew pair, one commits')
    t.equal([await value(etcd, k('p')), await value(etcd, k('q'))].filter((v) => v !== undefined).length, 1, 'p or q, not both')
    t.same([m1!.kind, m2!.kind], ['committed', 'committed'], 'readers of one key both commit')
    t.equal(m1!.batchSize, m2!.batchSize, 'in the same transaction')
    t.ok(m1!.batchSize > 1, 'batched')
  })

  t.test('the batch sizes are recorded', async (t) => {
    await reader.forceFlush()
    const metric = exporter.getMetrics().at(-1)?.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'flexseat.registry.login.batch_size')
    const points = (metric?.dataPoints ?? []) as { value: { count: number; max?: number } }[]
    t.ok(points.length > 0, 'flexseat.registry.login.batch_size recorded')
    t.ok((points[0]?.value.max ?? 0) >= 3, 'a batch of three or more')
  })

  // Through the fenced writer, as logins use it: B read `s` and `s` changed before B committed.
  // B's first commit conflicts (its writes do not land); B is retried alone on fresh reads and
  // writes what it would have written alone; A and C commit once.
  // Guard tried: FencedWriter.write returning a conflicted member's planned outcome as committed
  // (treating `conflict` as `committed`): b is written from the stale read (saw old), and no retry.
  t.test('through the fenced writer: the stale member gets its own answer, the others theirs', async (t) => {
    const requestLease = new RequestLease(etcd)
    t.teardown(() => requestLease.close())
    const writer = new FencedWriter({ etcd, keys, leadership, requestLease, logger, groupCommit: ['logout'] })
    await writer.write('logout', randomUUID(), 'fp', async () => ({ ops: [{ type: 'put', key: k('warm'), value: 'w' }], outcome: { released: undefined } }))
    await etcd.put(k('w-s')).value('old')
    let open!: () => void
    const gate = new Promise<void>((resolve) => (open = resolve))
    let waiting = 0
    const plans = { A: 0, B: 0, C: 0 }
    const write = (name: 'A' | 'B' | 'C') =>
      writer.write('logout', randomUUID(), 'fp', async (read) => {
        plans[name]++
        const seen = name === 'B' ? (await read.get(k('w-s')))?.value.toString() : undefined
        await read.get(k(`w-${name}`))
        if (plans[name] === 1) {
          waiting++
          await gate
        }
        return { ops: [{ type: 'put', key: k(`w-${name}`), value: name === 'B' ? `saw ${seen}` : name }], outcome: { released: undefined } }
      })
    const done = Promise.all([write('A'), write('B'), write('C')])
    await waitFor(() => waiting === 3, 10_000, 'the three plans read')
    await etcd.put(k('w-s')).value('new')
    open()
    await done
    t.same(plans, { A: 1, B: 2, C: 1 }, 'B planned again on fresh reads, A and C once')
    t.same(await value(etcd, k('w-B')).then((v) => [v?.value, v?.version]), ['saw new', '1'], 'B wrote once, from what it read afresh')
    t.same([(await value(etcd, k('w-A')))?.version, (await value(etcd, k('w-C')))?.version], ['1', '1'], 'A and C wrote once')
  })
})

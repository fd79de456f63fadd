// etcd's transaction limits against a real etcd started with small ones (--max-txn-ops 32,
// --max-request-bytes 64 KiB): txn-limits.ts counts as etcd does (compares, success and failure
// operations each; bytes as an upper bound with headroom), the fenced writer refuses before
// sending what etcd would refuse, splits a batch into fenced parts that each commit whole, halves
// a part whose values turned out larger than estimated, and a registry process whose
// FLEXSEAT_ETCD_MAX_TXN_OPS is above the cluster's refuses to start.
import t from 'tap'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { promisify } from 'node:util'
import pino from 'pino'
import { type Etcd3, GRPCInvalidArgumentError, type ICompare, type IRequestOp } from 'etcd3'
import { ErrorCode } from '@flexseat/proto'
import { Keys, type RegistryError, createEtcdClient, overLimits, txnSize } from '@flexseat/registry'
import { FencedWriter } from '../../packages/registry/src/fenced-writer'
import { RequestLease } from '../../packages/registry/src/idempotency'
import { Leadership } from '../../packages/registry/src/leadership'
// From the sources, as the writer above: the class its refusals are instances of.
import { PARTS_AT_ONCE, TxnTooLargeError } from '../../packages/registry/src/txn-limits'
import { freshPrefix, startEtcd, waitFor } from '../helpers/registry-core-harness'
import { REGISTRY_MAIN, REPO_ROOT } from '../helpers/registry-cluster'

const LIMITS = { maxTxnOps: 32, maxRequestBytes: 65_536 }

/** What etcd says of `txn`: accepted, or refused as over its limits (INVALID_ARGUMENT). */
async function etcdSays(etcd: Etcd3, txn: { compare: ICompare[]; success: IRequestOp[]; failure: IRequestOp[] }): Promise<'accepted' | 'refused'> {
  try {
    await etcd.kv.txn(txn)
    return 'accepted'
  } catch (error) {
    if (error instanceof GRPCInvalidArgumentError) return 'refused'
    throw error
  }
}

t.test('etcd with small limits', async (t) => {
  const cluster = await startEtcd(t, 1, LIMITS)
  const etcd = createEtcdClient(cluster.endpoints, { callTimeoutMs: 5_000 })
  t.teardown(() => etcd.close())
  const prefix = freshPrefix()

  // Guard tried: overLimits adding compares, success and failure together (one budget of 32)
  // says "over" for 32 + 32 + 32, which etcd accepts.
  t.test('compares, success and failure operations are each limited to --max-txn-ops', async (t) => {
    const key = Buffer.from(`${prefix}probe`)
    const compare = (n: number): ICompare[] => Array.from({ length: n }, () => ({ key, target: 'Mod', result: 'Equal', mod_revision: '0' }))
    const ranges = (n: number): IRequestOp[] => Array.from({ length: n }, () => ({ request_range: { key } }))
    const cases = [
      { name: '32 of each', txn: { compare: compare(32), success: ranges(32), failure: ranges(32) } },
      { name: '33 compares', txn: { compare: compare(33), success: [], failure: [] } },
      { name: '33 success operations', txn: { compare: [], success: ranges(33), failure: [] } },
      { name: '33 failure operations', txn: { compare: [], success: [], failure: ranges(33) } },
    ]
    for (const { name, txn } of cases) {
      const ours = overLimits(txnSize(txn), LIMITS) === undefined ? 'accepted' : 'refused'
      t.equal(await etcdSays(etcd, txn), ours, `${name}: etcd and txn-limits.ts agree (${ours})`)
    }
  })

  // Guard tried: txnSize leaving out the values' length: the 64 KiB put passes the estimate and
  // etcd refuses it.
  t.test('the byte estimate is an upper bound that keeps within the headroom of etcd\'s own limit', async (t) => {
    const key = `${prefix}big`
    const put = (bytes: number) => ({ compare: [], success: [{ request_put: { key: Buffer.from(key), value: Buffer.alloc(bytes, 'x') } }], failure: [] })
    const fits = (bytes: number) => overLimits(txnSize(put(bytes)), LIMITS) === undefined
    // The largest value the estimate lets through, and the largest etcd accepts (bisection).
    let ours = 0
    for (let step = 1 << 16; step > 0; step >>= 1) if (fits(ours + step)) ours += step
    let lo = 0
    let hi = LIMITS.maxRequestBytes + 1
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2)
      if ((await etcdSays(etcd, put(mid))) === 'accepted') lo = mid
      else hi = mid
    }
    t.comment(`largest value: ${ours} bytes by the estimate, ${lo} accepted by etcd`)
    t.ok(ours <= lo, 'whatever the estimate lets through, etcd accepts')
    t.ok(lo - ours < 4_096 + 256, 'and the estimate gives away no more than its headroom')
    t.equal(await etcdSays(etcd, put(ours)), 'accepted')
    t.notOk(fits(lo + 1), 'what etcd refuses, the estimate refuses too')
  })

  t.test('the fenced writer', async (t) => {
    const keys = new Keys(freshPrefix())
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logs.push(line) })
    const logs: string[] = []
    const leadership = new Leadership(etcd, keys, { instanceId: 'writer-test', siteId: 'amsterdam', address: '127.0.0.1:1' }, 5, logger)
    t.teardown(() => leadership.stop())
    leadership.start()
    await waitFor(() => leadership.isLeader, 10_000, 'leadership')
    const requestLease = new RequestLease(etcd)
    t.teardown(() => requestLease.close())
    const writer = new FencedWriter({ etcd, keys, leadership, requestLease, logger, limits: LIMITS })
    const item = (i: number) => `${keys.prefix}items/${String(i).padStart(3, '0')}`
    const stored = async () => {
      const res = await etcd.kv.range({ key: Buffer.from(`${keys.prefix}items/`), range_end: Buffer.from(`${keys.prefix}items0`) })
      return new Map(res.kvs.map((kv) => [kv.key.toString('utf8'), kv]))
    }

    // Guard tried: removing assertWithinLimits from apply() and write(): etcd refuses, the writer
    // logs "write failed" and answers UNAVAILABLE instead.
    t.test('refuses, before sending, a transaction over the limits', async (t) => {
      const before = logs.length
      const tooMany = await writer.apply('test puts', async () => ({ ops: Array.from({ length: 40 }, (_, i) => ({ type: 'put' as const, key: item(i), value: 'v' })), outcome: undefined })).catch((e: unknown) => e)
      t.ok(tooMany instanceof TxnTooLargeError, 'apply: TxnTooLargeError')
      t.equal((tooMany as RegistryError).code, ErrorCode.ERROR_CODE_INTERNAL, 'an internal fault (the batch should have been split)')
      t.match((tooMany as Error).message, /40 success operations .*etcd allows 32 of each.*FLEXSEAT_ETCD_MAX_TXN_OPS.*nothing was written/)
      const readMany = await writer
        .write('logout', randomUUID(), 'fp', async (read) => {
          for (let i = 0; i < 31; i++) await read.get(item(i))
          return { ops: [], outcome: { released: undefined } }
        })
        .catch((e: unknown) => e)
      t.ok(readMany instanceof TxnTooLargeError, 'write: 31 keys read + the fence + the request record = 33 compares, refused')
      t.equal((await stored()).size, 0, 'nothing was written')
      t.equal(logs.length, before, 'etcd was not asked: no "write failed"')
    })

    // Guard tried: applyInParts ignoring perPart (parts of 31 with a shared compare: 33 compares)
    // gets TxnTooLargeError; without the fence in each part's transaction, the part planned after
    // the election key is gone commits (the last check).
    t.test('splits a batch into fenced parts, each committed whole', async (t) => {
      const shared = `${keys.prefix}shared`
      const items = Array.from({ length: 100 }, (_, i) => i)
      const outcomes = await writer.applyInParts('test parts', items, { perItem: { compares: 1, success: 1 }, perPart: { compares: 1 } }, async (read, part) => {
        await read.prefetch([shared, ...part.map(item)])
        await read.get(shared)
        const ops = []
        for (const i of part) if (!(await read.get(item(i)))) ops.push({ type: 'put' as const, key: item(i), value: `v${i}` })
        return { ops, outcome: part.length }
      })
      const kvs = await stored()
      t.equal(kvs.size, 100, 'every item written')
      t.equal(outcomes.reduce((a, b) => a + b, 0), 100)
      const revisions = new Set([...kvs.values()].map((kv) => kv.mod_revision))
      t.equal(revisions.size, 4, 'in four transactions: 1 fence + 1 shared + 30 items = 32 compares each')
      t.ok(outcomes.every((n) => n <= 30), 'of at most 30 items each')

      const deposedAt: string[] = []
      // Parts of at most 31, PARTS_AT_ONCE at a time: the one after those is planned only once
      // one of them has committed.
      const more = Array.from({ length: 31 * (PARTS_AT_ONCE + 3) }, (_, i) => 100 + i)
      let planned = 0
      const refused = await writer
        .applyInParts('test fenced parts', more, { perItem: { compares: 1, success: 1 } }, async (read, part) => {
          if (++planned === PARTS_AT_ONCE + 1) {
            // The leadership is lost while this part is planned: the election key goes.
            const fence = leadership.fence()!
            deposedAt.push((await etcd.kv.deleteRange({ key: Buffer.from(fence.key) })).header.revision)
          }
          const ops = []
          for (const i of part) if (!(await read.get(item(i)))) ops.push({ type: 'put' as const, key: item(i), value: `v${i}` })
          return { ops, outcome: undefined }
        })
        .catch((e: unknown) => e)
      t.equal((refused as RegistryError).code, ErrorCode.ERROR_CODE_NOT_LEADER, 'a part planned after the election key went: NOT_LEADER')
      const after = [...(await stored()).entries()].filter(([key]) => key >= item(100))
      t.ok(after.length > 0 && after.length < more.length, `the parts committed before were written (${after.length} of ${more.length})`)
      t.ok(after.every(([, kv]) => BigInt(kv.mod_revision) < BigInt(deposedAt[0]!)), 'nothing was written after the election key went')
    })
  })

  // Guard tried: writeInParts rethrowing TxnTooLargeError instead of halving.
  t.test('a part whose values turn out larger than estimated is halved, not failed', async (t) => {
    const keys = new Keys(freshPrefix())
    const logs: string[] = []
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logs.push(line) })
    const leadership = new Leadership(etcd, keys, { instanceId: 'halving-test', siteId: 'amsterdam', address: '127.0.0.1:1' }, 5, logger)
    t.teardown(() => leadership.stop())
    leadership.start()
    await waitFor(() => leadership.isLeader, 10_000, 'leadership')
    const requestLease = new RequestLease(etcd)
    t.teardown(() => requestLease.close())
    const writer = new FencedWriter({ etcd, keys, leadership, requestLease, logger, limits: LIMITS })
    // 31 items fit by count; at 3 KB each they are 93 KB, over the 64 KiB request limit.
    const items = Array.from({ length: 31 }, (_, i) => i)
    const parts = await writer.applyInParts('test big values', items, { perItem: { compares: 0, success: 1 } }, async (_read, part) => ({
      ops: part.map((i) => ({ type: 'put' as const, key: `${keys.prefix}big/${i}`, value: 'x'.repeat(3_000) })),
      outcome: part.length,
    }))
    t.ok(parts.length >= 2, `written in ${parts.length} parts`)
    const res = await etcd.kv.range({ key: Buffer.from(`${keys.prefix}big/`), range_end: Buffer.from(`${keys.prefix}big0`), count_only: true })
    t.equal(Number(res.count), 31, 'every item written')
    t.same(logs, [], 'and etcd refused nothing')
  })

  // Guard tried: RegistryProcess.start without the probe: the process starts (and would meet
  // etcd's refusal at the first large batch).
  t.test('a registry process configured above the cluster\'s --max-txn-ops does not start', async (t) => {
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FLEXSEAT_') && !name.startsWith('OTEL_')))
    const env = {
      ...inherited,
      FLEXSEAT_ETCD_ENDPOINTS: cluster.endpoints.join(','),
      FLEXSEAT_ETCD_PREFIX: freshPrefix(),
      FLEXSEAT_REGISTRY_LISTEN: '127.0.0.1:0',
      FLEXSEAT_ETCD_MAX_TXN_OPS: '64',
    }
    const exit = await promisify(execFile)(process.execPath, [REGISTRY_MAIN, '--site', 'amsterdam'], { cwd: REPO_ROOT, env, timeout: 15_000 }).then(
      () => ({ code: 0, stdout: '' }),
      (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
    )
    t.equal(exit.code, 2, 'exit 2 (configuration)')
    t.match(exit.stdout, /FLEXSEAT_ETCD_MAX_TXN_OPS: etcd refuses transactions of 64 operations/, 'the log says which setting and why')
  })
})

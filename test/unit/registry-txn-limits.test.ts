// The shared splitter of txn-limits.ts (no etcd: registry-txn-limits.test.ts in integration/
// checks the counting model against a real etcd). Every part fits every limit, items are never
// divided or reordered, a part refused as too large is halved, and the registry's configuration
// reads FLEXSEAT_ETCD_MAX_TXN_OPS / FLEXSEAT_ETCD_MAX_REQUEST_BYTES.
import t from 'tap'
import fc from 'fast-check'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  DEFAULT_TXN_LIMITS,
  PARTS_AT_ONCE,
  RegistryConfigError,
  TxnTooLargeError,
  addSizes,
  loadRegistryConfig,
  overLimits,
  splitByLimits,
  txnSize,
  type TxnLimits,
  writeInParts,
} from '@flexseat/registry'
import { REPO_ROOT } from '../helpers/registry-cluster'

const size = fc.record({ compares: fc.nat(12), success: fc.nat(12), failure: fc.nat(3), bytes: fc.nat(3_000) })

// Guard tried: splitByLimits comparing with < instead of <= (a part exactly at the limit is cut
// early) fails "a part as full as the limits allows"; leaving out the failure count fails the
// property on failure operations.
t.test('splitByLimits: every part fits, nothing is divided, lost or reordered', async (t) => {
  fc.assert(
    fc.property(fc.array(size, { maxLength: 200 }), size, fc.integer({ min: 16, max: 128 }), fc.integer({ min: 8_192, max: 40_000 }), (items, reserved, maxTxnOps, maxRequestBytes) => {
      const limits: TxnLimits = { maxTxnOps, maxRequestBytes }
      const fitsAlone = items.every((item) => overLimits(addSizes(reserved, item), limits) === undefined)
      if (!fitsAlone) {
        try {
          splitByLimits(items, (item) => item, limits, reserved)
        } catch (error) {
          return error instanceof TxnTooLargeError
        }
        return false
      }
      const parts = splitByLimits(items, (item) => item, limits, reserved)
      if (parts.flat().length !== items.length || parts.flat().some((item, i) => item !== items[i])) return false
      if (parts.some((part) => part.length === 0)) return false
      for (const [i, part] of parts.entries()) {
        if (overLimits(addSizes(reserved, ...part), limits) !== undefined) return false
        // Greedy: the next part's first item would not have fitted in this one.
        const next = parts[i + 1]
        if (next && overLimits(addSizes(reserved, ...part, next[0]!), limits) === undefined) return false
      }
      return true
    }),
  )
  const full = splitByLimits(Array.from({ length: 84 }, () => 'u'), () => ({ compares: 3, success: 3 }), DEFAULT_TXN_LIMITS, { compares: 2, failure: 1 })
  t.same(full.map((p) => p.length), [42, 42], 'a part as full as the limits allows: 2 + 42 × 3 = 128 compares')
  t.same(splitByLimits([], () => ({ compares: 1 }), DEFAULT_TXN_LIMITS), [], 'no items, no parts')
})

t.test('overLimits counts compares, success and failure operations each, and the bytes with headroom', async (t) => {
  const limits = DEFAULT_TXN_LIMITS
  t.equal(overLimits({ compares: 128, success: 128, failure: 128, bytes: 0 }, limits), undefined, '128 of each fits')
  t.match(overLimits({ compares: 129, success: 0, failure: 0, bytes: 0 }, limits), /129 compares.*FLEXSEAT_ETCD_MAX_TXN_OPS/)
  t.match(overLimits({ compares: 0, success: 129, failure: 0, bytes: 0 }, limits), /129 success operations/)
  t.match(overLimits({ compares: 0, success: 0, failure: 129, bytes: 0 }, limits), /129 failure operations/)
  t.match(overLimits({ compares: 0, success: 0, failure: 0, bytes: limits.maxRequestBytes }, limits), /FLEXSEAT_ETCD_MAX_REQUEST_BYTES/)
  const measured = txnSize({
    compare: [{ key: Buffer.from('k'.repeat(10)), target: 'Mod', result: 'Equal', mod_revision: '5' }],
    success: [{ request_put: { key: Buffer.from('k'.repeat(10)), value: Buffer.alloc(1_000) } }, { request_delete_range: { key: Buffer.from('d') } }],
    failure: [{ request_range: { key: Buffer.from('f') } }],
  })
  t.same({ compares: measured.compares, success: measured.success, failure: measured.failure }, { compares: 1, success: 2, failure: 1 })
  t.ok(measured.bytes >= 10 + 10 + 1_000 + 1 + 1, 'bytes count every key and value')
})

// Guard tried: writeInParts rethrowing TxnTooLargeError instead of halving fails "halved".
t.test('writeInParts: parts run a few at once, a part refused as too large is halved, outcomes keep item order', async (t) => {
  const items = Array.from({ length: 100 }, (_, i) => i)
  let inFlight = 0
  let most = 0
  const written: number[][] = []
  const outcomes = await writeInParts(
    items,
    async (part) => {
      inFlight++
      most = Math.max(most, inFlight)
      await new Promise((resolve) => setImmediate(resolve))
      inFlight--
      // Items 40-59 turn out bigger than estimated: a part holding more than 5 of them is refused.
      if (part.filter((i) => i >= 40 && i < 60).length > 5) throw new TxnTooLargeError('test', addSizes({ bytes: 1 }), 'too many bytes')
      written.push([...part])
      return part.reduce((a, b) => a + b, 0)
    },
    { limits: { maxTxnOps: 21, maxRequestBytes: DEFAULT_TXN_LIMITS.maxRequestBytes }, perItem: { compares: 1 }, reserved: { compares: 1 } },
  )
  t.same(written.flat().sort((a, b) => a - b), items, 'every item written once')
  t.ok(written.every((part) => part.length <= 20), 'parts of at most 20 (21 compares with the reserved one)')
  t.ok(written.some((part) => part.length < 20 && part.some((i) => i >= 40 && i < 60)), 'the refused parts were halved')
  t.equal(outcomes.reduce((a, b) => a + b, 0), items.reduce((a, b) => a + b, 0), 'every outcome returned')
  t.ok(most > 1 && most <= PARTS_AT_ONCE, `at most ${PARTS_AT_ONCE} parts at once (${most})`)

  const failing = writeInParts(items, async (part) => {
    if (part.includes(0)) throw new Error('etcd unavailable')
    return part.length
  }, { limits: DEFAULT_TXN_LIMITS, perItem: { compares: 2 } })
  await t.rejects(failing, /etcd unavailable/, 'another failure is passed on')
  const alone = writeInParts([1], async () => {
    throw new TxnTooLargeError('test', addSizes({ bytes: 1 }), 'too many bytes')
  }, { limits: DEFAULT_TXN_LIMITS, perItem: {} })
  const refused = await alone.then(() => undefined, (error: unknown) => error)
  t.ok(refused instanceof TxnTooLargeError, 'one item too large is not split further: TxnTooLargeError')
})

// Guard tried: loadRegistryConfig ignoring FLEXSEAT_ETCD_MAX_TXN_OPS fails the first case.
t.test('the registry reads etcd\'s limits from FLEXSEAT_ETCD_MAX_TXN_OPS and FLEXSEAT_ETCD_MAX_REQUEST_BYTES', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-txn-config-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'tokens.yaml'), 'tokens: []\n')
  const load = (env: Record<string, string>) => loadRegistryConfig(['--site', 'amsterdam', '--sites-dir', join(REPO_ROOT, 'sites')], env, dir)
  t.same((await load({})).txnLimits, { maxTxnOps: 128, maxRequestBytes: 1_572_864 }, 'etcd\'s defaults')
  t.same((await load({ FLEXSEAT_ETCD_MAX_TXN_OPS: '512', FLEXSEAT_ETCD_MAX_REQUEST_BYTES: '10485760' })).txnLimits, { maxTxnOps: 512, maxRequestBytes: 10_485_760 })
  for (const [name, value] of [['FLEXSEAT_ETCD_MAX_TXN_OPS', '8'], ['FLEXSEAT_ETCD_MAX_TXN_OPS', 'many'], ['FLEXSEAT_ETCD_MAX_REQUEST_BYTES', '1.5MiB'], ['FLEXSEAT_ETCD_MAX_REQUEST_BYTES', '100']] as const) {
    await t.rejects(load({ [name]: value }), { name: RegistryConfigError.name, message: new RegExp(name) }, `${name}=${value} is refused, naming it`)
  }
})

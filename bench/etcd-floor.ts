/**
 * The floor under the seat registry: raw etcd on this machine, with the layout bench/registry.ts
 * uses (three etcd members on loopback, data in a temp dir on disk), measured with the etcd3
 * client the registry uses:
 *
 * - a single linearizable range (what each registry read costs);
 * - a login-shaped transaction: 6 compares (fence create revision, request record absent, 4 mod
 *   revisions) and 5 effects (2 puts, 2 deletes, 1 put on a lease), the shape of a seat takeover;
 * - a read-only txn of 4 ranges (one round trip for several reads);
 * - the registry's login before this work, in etcd calls: 8 sequential reads then the txn.
 *
 * Each at 1 client (latency) and at 32 concurrent clients (throughput).
 *
 *   npx tsc -b packages/sim && npx tsx bench/etcd-floor.ts [--seconds 5]
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Etcd3, type IRequestOp } from 'etcd3'
import { EtcdCluster } from '@flexseat/sim'
import { rssMiB, since, summary } from './stats'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' } } })
const SECONDS = Number(values.seconds)
const CLIENTS = 32
const P = 'floor/'

interface Row {
  operation: string
  concurrency: number
  ops: number
  perSecond: number
  medianMs: number
  p99Ms: number
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'etcd-floor-'))
  const cluster = await EtcdCluster.start({ members: 3, dataDir })
  const etcd = new Etcd3({ hosts: [...cluster.endpoints] })
  try {
    const fence = await etcd.lease(60, { autoKeepAlive: true })
    const fenceKey = `${P}election/me`
    await fence.put(fenceKey).value('leader')
    const fenceRev = (await etcd.kv.range({ key: Buffer.from(fenceKey) })).kvs[0]!.create_revision
    const recordLease = await etcd.lease(3600, { autoKeepAlive: false }).grant()
    for (let w = 0; w < CLIENTS; w++) {
      await etcd.put(`${P}ext/${1000 + w}`).value(`user:w${w}`)
      await etcd.put(`${P}user/w${w}`).value(JSON.stringify({ id: `w${w}`, displayName: `Worker ${w}`, pinHash: 'x'.repeat(90) }))
      for (const side of [0, 1]) await etcd.put(`${P}device/d${w}-${side}`).value(JSON.stringify({ id: `d${w}-${side}`, flexHost: true }))
    }
    let seq = 0
    const range = (key: string) => etcd.kv.range({ key: Buffer.from(key) })
    /** A seat takeover of worker w onto desk `side`: the registry's login transaction, with fresh reads for its compares. */
    const takeover = async (w: number, side: number, sequentialReads: boolean): Promise<void> => {
      const keys = [`${P}ext/${1000 + w}`, `${P}user/w${w}`, `${P}device/d${w}-${side}`, `${P}seat/w${w}`, `${P}host/d${w}-${1 - side}`, `${P}host/d${w}-${side}`]
      const requestKey = `${P}request/${seq++}-${Math.random()}`
      let revs: string[]
      if (sequentialReads) {
        await range(requestKey)
        revs = []
        for (const key of keys) revs.push((await range(key)).kvs[0]?.mod_revision ?? '0')
      } else {
        const res = await etcd.kv.txn({ compare: [], success: [requestKey, ...keys].map((key) => ({ request_range: { key: Buffer.from(key) } })), failure: [] })
        revs = res.responses.slice(1).map((r) => r.response_range.kvs[0]?.mod_revision ?? '0')
      }
      const compare = [
        { key: Buffer.from(fenceKey), target: 'Create' as const, result: 'Equal' as const, create_revision: fenceRev },
        { key: Buffer.from(requestKey), target: 'Create' as const, result: 'Equal' as const, create_revision: '0' },
        ...keys.slice(1, 5).map((key, i) => ({ key: Buffer.from(key), target: 'Mod' as const, result: 'Equal' as const, mod_revision: revs[i + 1]! })),
      ]
      const success: IRequestOp[] = [
        { request_delete_range: { key: Buffer.from(`${P}host/d${w}-${1 - side}`) } },
        { request_put: { key: Buffer.from(`${P}host/d${w}-${side}`), value: Buffer.from(`w${w}`) } },
        { request_put: { key: Buffer.from(`${P}seat/w${w}`), value: Buffer.from(JSON.stringify({ userId: `w${w}`, deviceId: `d${w}-${side}`, since: new Date().toISOString() })) } },
        { request_delete_range: { key: Buffer.from(`${P}lockout/w${w}`) } },
        { request_put: { key: Buffer.from(requestKey), value: Buffer.from('x'.repeat(200)), lease: recordLease } },
      ]
      const res = await etcd.kv.txn({ compare, success, failure: [] })
      if (!res.succeeded) throw new Error('txn conflict (each client owns its keys: should not happen)')
    }
    /** Only the transaction (compares on revisions read just before, by one read-only txn not counted). */
    const bareTxn = async (w: number, side: number): Promise<void> => takeover(w, side, false)

    const rows: Row[] = []
    const scenarios: [string, (w: number, side: number) => Promise<unknown>][] = [
      ['range (1 key, linearizable)', (w) => range(`${P}user/w${w}`)],
      ['range (1 key, serializable)', (w) => etcd.kv.range({ key: Buffer.from(`${P}user/w${w}`), serializable: true })],
      ['read-only txn (7 ranges)', (w, side) => etcd.kv.txn({ compare: [], success: [`${P}ext/${1000 + w}`, `${P}user/w${w}`, `${P}device/d${w}-${side}`, `${P}seat/w${w}`, `${P}host/d${w}-0`, `${P}host/d${w}-1`, `${P}request/x`].map((key) => ({ request_range: { key: Buffer.from(key) } })), failure: [] })],
      ['takeover: 1 read txn + write txn', bareTxn],
      ['takeover: 7 sequential reads + write txn', (w, side) => takeover(w, side, true)],
    ]
    for (const [name, op] of scenarios) {
      for (const concurrency of [1, CLIENTS]) rows.push(await load(name, concurrency, op))
    }
    console.log('\nRaw etcd, 3 members on loopback (each row runs %d s):', SECONDS)
    console.table(rows)
    console.log('etcd RSS (MiB):', cluster.members.map((m) => `${m.name} ${rssMiB(m.process!.pid)}`).join(', '))
    console.log(JSON.stringify({ rows }))
    fence.release()
  } finally {
    etcd.close()
    await cluster.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
}

async function load(operation: string, concurrency: number, op: (w: number, side: number) => Promise<unknown>): Promise<Row> {
  const latencies: number[] = []
  const started = performance.now()
  const until = started + SECONDS * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      let side = 0
      while (performance.now() < until) {
        side = 1 - side
        const t0 = performance.now()
        await op(w, side)
        latencies.push(since(t0))
      }
    }),
  )
  const s = summary(latencies)
  return { operation, concurrency, ops: latencies.length, perSecond: Math.round(latencies.length / (since(started) / 1000)), medianMs: s.medianMs, p99Ms: s.p99Ms }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})

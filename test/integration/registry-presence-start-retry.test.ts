// Presence.start retries a transient etcd failure for a while before it rejects (presence.ts).
// A registry that starts while etcd's raft leadership moves (FLEXSEAT_MOVE_ETCD_LEADER: the
// leading registry moves it right after its election, while the others still start) got
// `raft proposal dropped` on its presence put, and exited: `npm start` then failed as a whole.
// Here the transient failure is an etcd member that cannot be reached yet: the client points at
// a port that only later forwards to a real etcd.
import t from 'tap'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import pino from 'pino'
import { Keys, createEtcdClient } from '@flexseat/registry'
import { freePorts } from '@flexseat/sim'
import { Presence } from '../../packages/registry/src/presence'
import { freshPrefix, startEtcd } from '../helpers/registry-core-harness'

const record = { siteId: 'amsterdam', address: '127.0.0.1:1', startedAt: new Date().toISOString(), version: 'test' }

/** A TCP forwarder from 127.0.0.1:`port` to `target` (host:port), listening once started. */
function forwarder(port: number, target: URL): { start(): Promise<void>; stop(): Promise<void> } {
  let server: Server | undefined
  const sockets = new Set<Socket>()
  return {
    start: () =>
      new Promise((resolve, reject) => {
        server = createServer((client) => {
          const upstream = createConnection(Number(target.port), target.hostname)
          for (const s of [client, upstream]) {
            sockets.add(s)
            s.on('error', () => undefined)
            s.on('close', () => sockets.delete(s))
          }
          client.pipe(upstream).pipe(client)
        })
        server.once('error', reject)
        server.listen(port, '127.0.0.1', () => resolve())
      }),
    stop: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        if (server) server.close(() => resolve())
        else resolve()
      }),
  }
}

// Guard tried: start() without its retry loop (one #register, as before): the first case
// rejects with the unreachable member's error.
t.test('a member that answers only after a while: start waits for it, one lease granted', async (t) => {
  const cluster = await startEtcd(t, 1)
  const direct = createEtcdClient(cluster.endpoints, { callTimeoutMs: 3_000 })
  t.teardown(() => direct.close())
  const before = (await direct.leaseClient.leaseLeases()).leases.length

  const [port] = await freePorts(1)
  const relay = forwarder(port!, new URL(cluster.endpoints[0]!))
  t.teardown(() => relay.stop())
  const etcd = createEtcdClient([`http://127.0.0.1:${port}`], { callTimeoutMs: 1_000 })
  t.teardown(() => etcd.close())
  const keys = new Keys(freshPrefix())
  const presence = new Presence(etcd, keys, 'ams-late', record, 5, pino({ level: 'silent' }))
  t.teardown(() => presence.stop())

  const started = presence.start(10_000)
  setTimeout(() => void relay.start(), 800)
  await started
  const stored = await direct.get(keys.instance('ams-late')).string()
  t.same(JSON.parse(stored ?? 'null'), record, 'registered once the member answers')
  t.equal((await direct.leaseClient.leaseLeases()).leases.length, before + 1, 'one lease: none left over from the failed attempts')
})

t.test('a member that never answers: start rejects once its retry time is over', async (t) => {
  const [port] = await freePorts(1)
  const etcd = createEtcdClient([`http://127.0.0.1:${port}`], { callTimeoutMs: 500 })
  t.teardown(() => etcd.close())
  const presence = new Presence(etcd, new Keys(freshPrefix()), 'ams-never', record, 5, pino({ level: 'silent' }))
  t.teardown(() => presence.stop())
  const began = Date.now()
  await t.rejects(presence.start(1_500), 'rejects')
  t.ok(Date.now() - began >= 1_500, 'after retrying for its retry time')
})

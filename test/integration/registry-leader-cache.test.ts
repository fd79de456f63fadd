// The follower's leader cache (leader-forwarder.ts): once the leader it read from etcd is stale,
// a forwarded write still goes to that leader at once while the leader is read again beside it;
// only without any entry does a write wait for the read. Over real gRPC: two small servers stand
// for two leaders; the core's leader lookup is the test's, so it can hold the read open.
import t from 'tap'
import { credentials, Metadata, Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js'
import pino from 'pino'
import { LeaderForwarder } from '@flexseat/registry'
import type { LeaderInfo } from '../../packages/registry/src/leadership'
import { ADMIN } from '../helpers/registry-core-harness'

const json = {
  serialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer) => JSON.parse(bytes.toString('utf8')) as { who: string },
}
const ECHO = {
  path: '/flexseat.test.Echo/Who',
  requestStream: false,
  responseStream: false,
  requestSerialize: json.serialize,
  requestDeserialize: json.deserialize,
  responseSerialize: json.serialize,
  responseDeserialize: json.deserialize,
} as const

/** A gRPC server on an ephemeral port answering Who with its own name. */
async function leaderServer(t: { teardown(fn: () => void): void }, name: string): Promise<LeaderInfo> {
  const server = new Server()
  const definition: ServiceDefinition = { Who: ECHO }
  const implementation: UntypedServiceImplementation = { Who: (_call: unknown, callback: (e: null, r: { who: string }) => void) => callback(null, { who: name }) }
  server.addService(definition, implementation)
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))))
  t.teardown(() => server.forceShutdown())
  return { instanceId: name, siteId: name, address: `127.0.0.1:${port}`, since: new Date(), proclaimed: true }
}

t.test('a stale leader entry: the write goes to it at once, the leader is read again beside it', async (t) => {
  const a = await leaderServer(t, 'leader-a')
  const b = await leaderServer(t, 'leader-b')
  // The core's leader lookup: the first answers at once; later ones wait until the test answers them.
  let lookups = 0
  const held: ((leader: LeaderInfo) => void)[] = []
  const core = {
    isLeader: false,
    currentLeader: (): Promise<LeaderInfo | undefined> => {
      lookups += 1
      return lookups === 1 ? Promise.resolve(a) : new Promise((resolve) => held.push(resolve))
    },
  }
  const forwarder = new LeaderForwarder({ core: () => core, instanceId: 'follower', clusterToken: undefined, credentials: credentials.createInsecure(), logger: pino({ level: 'silent' }), leaderCacheMs: 1 })
  t.teardown(() => forwarder.stop())
  const who = () => forwarder.execute(ECHO, { who: '?' }, ADMIN, { metadata: new Metadata() }, () => Promise.reject(new Error('not the leader here')))

  t.same(await who(), { who: 'leader-a' }, 'the first write waits for the read and goes to its leader')
  await new Promise((resolve) => setTimeout(resolve, 5))
  // Guard tried: the stale entry awaited as before (no entry used past its time): this write
  // waits for the held read, and the test times out.
  t.same(await who(), { who: 'leader-a' }, 'past the cache time, the write goes to the known leader without waiting for the read')
  t.equal(held.length, 1, 'while one read of the leader is under way')
  t.same(await who(), { who: 'leader-a' }, 'a second write meanwhile starts no second read')
  t.equal(held.length, 1)
  held[0]!(b)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(await who(), { who: 'leader-b' }, 'the read\'s answer replaces the entry')
})

// `flexseat calls` against a real registry (etcd and a registry process, gRPC): a worker's
// central call list by extension or user id, newest first, --limit, --json; an unknown
// extension, a bad --limit, and a token that may not read call lists.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { CallDirection, CallListServiceClient, type CallRecord, unary } from '@flexseat/proto'
import { credentials } from '@grpc/grpc-js'
import { cliRegistry } from '../helpers/cli-registry'
import { worker } from '../helpers/registry-cluster'

t.setTimeout(45_000)

t.test('flexseat calls', async (t) => {
  const { cluster, cli } = await cliRegistry(t)
  const address = cluster.instances[0]!.address
  const { directory } = cluster.clients(0)
  await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker('1001'), pin: '4711' }, { metadata: cluster.metadata('admin'), timeoutMs: 5_000 })
  const client = new CallListServiceClient(address, credentials.createInsecure())
  t.teardown(() => client.close())
  const now = Date.now()
  const record = (n: number, overrides: Partial<CallRecord>): CallRecord => ({
    recordId: randomUUID(), userId: 'u1001', direction: CallDirection.CALL_DIRECTION_INCOMING, startedAt: new Date(now - n * 60_000),
    otherParty: '2103', otherPartyName: 'Reception', answered: false, durationSeconds: 0, siteId: 'amsterdam', deviceId: 'ams-desk-1', ...overrides,
  })
  await unary(client.reportCalls.bind(client), {
    siteId: 'amsterdam',
    nodeId: 'amsterdam-1',
    calls: [record(3, {}), record(2, { direction: CallDirection.CALL_DIRECTION_OUTGOING, otherParty: '+31201234567', otherPartyName: '', answered: true, durationSeconds: 42 }), record(1, { answered: true, durationSeconds: 7, otherParty: '1002', otherPartyName: 'Alan Turing' })],
  }, { metadata: cluster.metadata('sip-node'), timeoutMs: 10_000 })

  const byExt = await cli(['calls', '1001'])
  t.equal(byExt.code, 0, `calls 1001 exits 0 ${byExt.stderr}`)
  const lines = byExt.stdout.trimEnd().split('\n')
  t.match(lines[0], /^TIME\s+CALL\s+OTHER PARTY\s+NAME\s+SECONDS\s+SITE\s+DEVICE$/)
  t.match(lines[1], /^\S+Z\s+in\s+1002\s+Alan Turing\s+7\s+amsterdam\s+ams-desk-1$/, 'newest first: the answered call')
  t.match(lines[2], /^\S+Z\s+out\s+\+31201234567\s+-\s+42\s+amsterdam/, 'the outgoing call')
  t.match(lines[3], /^\S+Z\s+missed\s+2103\s+Reception\s+-\s+amsterdam/, 'the missed call, oldest')
  t.equal(lines.length, 4)
  const json = JSON.parse((await cli(['calls', 'u1001', '--limit', '1', '--json'])).stdout)
  t.equal(json.calls.length, 1, '--limit 1, by user id')
  t.match(json.calls[0], { userId: 'u1001', direction: 'CALL_DIRECTION_INCOMING', otherParty: '1002', answered: true, durationSeconds: 7 })
  t.match((await cli(['calls', 'u1002'])).stdout, /^no calls of u1002$/m, 'a user without calls')
  const unknown = await cli(['calls', '1999'])
  t.equal(unknown.code, 1, 'an unknown extension: refused')
  t.match(unknown.stderr, /no user has this extension/)
  t.equal((await cli(['calls', '1001', '--limit', 'x'])).code, 2, 'a bad --limit is a usage error')
  t.equal((await cli(['calls'])).code, 2, 'no worker named')
  t.equal((await cli(['calls', 'u1001'], cluster.tokens.viewer)).code, 4, 'a viewer may not read call lists')
})

// The registry's etcd client tries the members in the order given, nearest first (etcd-client.ts):
// every call goes to the first member while it answers, and to the next when it is gone. etcd3
// picks a random member per call by default, which sent a branch's calls across the WAN two times
// in three. Counted on a real 3-member cluster by each member's own gRPC metrics.
import t from 'tap'
import { createEtcdClient } from '@flexseat/registry'
import { startEtcd } from '../helpers/registry-core-harness'

/** Ranges a member has served (etcd's grpc_server_handled_total for KV/Range). */
async function rangesServed(clientUrl: string): Promise<number> {
  const text = await (await fetch(`${clientUrl}/metrics`)).text()
  let total = 0
  for (const line of text.split('\n')) {
    if (line.startsWith('grpc_server_handled_total{') && line.includes('grpc_method="Range"')) total += Number(line.split(' ').at(-1))
  }
  return total
}

t.test('nearest first, the others as fallbacks', async (t) => {
  const cluster = await startEtcd(t, 3)
  const [a, b, c] = cluster.members
  const endpoints = [b!.clientUrl, a!.clientUrl, c!.clientUrl]
  const etcd = createEtcdClient(endpoints, { callTimeoutMs: 3_000 })
  t.teardown(() => etcd.close())
  await etcd.put('endpoints-test').value('x')

  const before = await Promise.all(endpoints.map(rangesServed))
  for (let i = 0; i < 30; i++) await etcd.get('endpoints-test').string()
  const after = await Promise.all(endpoints.map(rangesServed))
  t.same(after.map((n, i) => n - before[i]!), [30, 0, 0], 'all 30 reads at the first member listed')

  // The first member gone: a call that reaches it fails (the registry's own retries ride that
  // out, as they do the election that follows when it led), its circuit opens after two failures
  // in a row, and calls go to the next member listed, not the last.
  await cluster.kill(b!.name)
  const left = await Promise.all(endpoints.slice(1).map(rangesServed))
  let answered = 0
  const deadline = Date.now() + 15_000
  while (answered < 12 && Date.now() < deadline) {
    try {
      if ((await etcd.get('endpoints-test').string()) === 'x') answered++
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  t.equal(answered, 12, 'reads answered again')
  const then = await Promise.all(endpoints.slice(1).map(rangesServed))
  t.ok(then[0]! - left[0]! >= answered, 'by the next member listed')
  t.equal(then[1]! - left[1]!, 0, 'the last member listed served no read')
})

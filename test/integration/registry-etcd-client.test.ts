// The registry's etcd client (etcd-client.ts) over a real etcd, behind a TCP proxy that can drop
// every connection at once (what a member restart, a network blip or etcd3's own reset of a
// host's channels after a stream error looks like to the calls in flight). With one endpoint, a
// blip costs the calls in flight and nothing more: no circuit opens, so the calls after it reach
// etcd again as soon as it is back. (Before, two failed calls opened the host's circuit for a
// second, in which every call of the registry failed at once: reads answered UNAVAILABLE, and a
// SIP node asking for its directory then answered a phone 503; branch-revocation.test.ts.)
import t from 'tap'
import { type Server, type Socket, createConnection, createServer } from 'node:net'
import { isBrokenCircuitError } from 'cockatiel'
import { createEtcdClient } from '@flexseat/registry'
import { startEtcd } from '../helpers/registry-core-harness'

/** A TCP proxy to `target` whose connections can all be dropped at once (the listener stays). */
async function proxy(t: { teardown: (fn: () => unknown) => void }, target: string): Promise<{ endpoint: string; drop: () => void }> {
  const url = new URL(target)
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: url.hostname, port: Number(url.port) })
    sockets.add(client).add(upstream)
    client.pipe(upstream).pipe(client)
    const end = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    return new Promise((resolve) => server.close(resolve))
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('the proxy did not bind')
  return { endpoint: `http://127.0.0.1:${address.port}`, drop: () => sockets.forEach((socket) => socket.destroy()) }
}

// Guard tried: createEtcdClient with the host circuit breaker whatever the number of endpoints
// (as before): after the drop, calls fail with "Execution prevented because the circuit breaker
// is open" for a second.
t.test('with one endpoint, a dropped connection does not make the client refuse calls', async (t) => {
  const cluster = await startEtcd(t, 1)
  const { endpoint, drop } = await proxy(t, cluster.endpoints[0]!)
  const etcd = createEtcdClient([endpoint], { callTimeoutMs: 3_000 })
  t.teardown(() => etcd.close())
  await etcd.put('probe').value('1')

  const outcomes: ('ok' | 'refused' | 'failed')[] = []
  let dropped = false
  let okAfterDrop = 0
  let stop = false
  // Four callers reading in a loop, as a registry serving reads does; a failed read is tried
  // again at once (retryRead waits 25 ms at most).
  const callers = Array.from({ length: 4 }, async () => {
    while (!stop) {
      try {
        await etcd.kv.range({ key: Buffer.from('probe') })
        outcomes.push('ok')
        if (dropped) okAfterDrop++
      } catch (error) {
        outcomes.push(isBrokenCircuitError(error) ? 'refused' : 'failed')
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    }
  })
  while (outcomes.length < 50) await new Promise((resolve) => setTimeout(resolve, 5))
  drop()
  dropped = true
  // Long enough to see a circuit opened by the drop (it stayed open a second), and reads back.
  const until = Date.now() + 1_500
  while (Date.now() < until || okAfterDrop < 20) await new Promise((resolve) => setTimeout(resolve, 20))
  stop = true
  await Promise.all(callers)
  const count = (what: string) => outcomes.filter((o) => o === what).length
  t.comment(`${outcomes.length} reads: ${count('ok')} ok, ${count('failed')} failed (in flight at the drop), ${count('refused')} refused by a circuit breaker`)
  t.equal(count('refused'), 0, 'no read was refused by a circuit breaker')
  t.ok(okAfterDrop >= 20, 'reads succeed again after the drop')
})

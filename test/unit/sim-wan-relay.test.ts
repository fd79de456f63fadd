import t, { type Test } from 'tap'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { once } from 'node:events'
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net'
import { setImmediate as tick } from 'node:timers/promises'
import { SimError, WanRelay } from '@flexseat/sim'

// The userspace WAN relay (packages/sim/src/wan-relay.ts) over real loopback sockets: each
// direction delayed by at least its one-way delay (lower bounds: behaviour, not speed), TCP bytes
// in order under jitter, UDP loss near its probability with a fixed seed, UDP replies back to the
// client they answer, and bad conditions refused.

const HOST = '127.0.0.1'

/** A TCP server that stamps the arrival of each line and echoes it. */
async function tcpEcho(t: Test, onData?: (socket: Socket, chunk: Buffer) => void): Promise<{ server: Server; port: number; arrivals: number[] }> {
  const arrivals: number[] = []
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('data', (chunk) => {
      arrivals.push(performance.now())
      if (onData) onData(socket, chunk)
      else socket.write(chunk)
    })
    socket.on('error', () => undefined)
  })
  server.listen(0, HOST)
  await once(server, 'listening')
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  return { server, port: (server.address() as AddressInfo).port, arrivals }
}

async function udpSocket(t: Test, port = 0): Promise<UdpSocket> {
  const socket = createSocket('udp4')
  socket.bind(port, HOST)
  await once(socket, 'listening')
  t.teardown(() => socket.close())
  return socket
}

async function relayOf(t: Test, ...args: Parameters<typeof WanRelay.start>): Promise<WanRelay> {
  const relay = await WanRelay.start(...args)
  t.teardown(() => relay.close())
  return relay
}

t.test('TCP: each direction delayed by its own one-way delay, a round trip by both', async (t) => {
  const echo = await tcpEcho(t)
  const relay = await relayOf(t, { routes: [{ protocol: 'tcp', listen: { host: HOST, port: 0 }, target: { host: HOST, port: echo.port } }], up: { delayMs: 60 }, down: { delayMs: 30 } })
  const client = connect(relay.address(0).port, HOST)
  t.teardown(() => client.destroy())
  await once(client, 'connect')
  for (let i = 0; i < 3; i++) {
    const sent = performance.now()
    client.write(`ping ${i}\n`)
    const [reply] = (await once(client, 'data')) as [Buffer]
    const back = performance.now()
    t.equal(reply.toString(), `ping ${i}\n`, 'the echo comes back unchanged')
    const arrived = echo.arrivals.at(-1)!
    t.ok(arrived - sent >= 60, `client → server took ${(arrived - sent).toFixed(1)} ms, at least the 60 ms up`)
    t.ok(back - arrived >= 30, `server → client took ${(back - arrived).toFixed(1)} ms, at least the 30 ms down`)
    t.ok(back - sent >= 90, `round trip ${(back - sent).toFixed(1)} ms, at least 60 + 30`)
  }
  t.equal(relay.stats.tcpConnections, 1)
})

t.test('TCP: jitter never reorders bytes within a stream; the half close arrives after the last byte', async (t) => {
  let received = ''
  let ended!: () => void
  const done = new Promise<void>((resolve) => (ended = resolve))
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('data', (chunk) => (received += chunk.toString()))
    socket.on('end', () => {
      socket.end()
      ended()
    })
  })
  server.listen(0, HOST)
  await once(server, 'listening')
  t.teardown(() => server.close())
  // Delays drawn from 0-20 ms: chunk n+1 would often overtake chunk n were it not held back.
  const relay = await relayOf(t, { routes: [{ protocol: 'tcp', listen: { host: HOST, port: 0 }, target: { host: HOST, port: (server.address() as AddressInfo).port } }], up: { delayMs: 10, jitterMs: 10 }, seed: 7 })
  const client = connect({ port: relay.address(0).port, host: HOST, noDelay: true })
  t.teardown(() => client.destroy())
  await once(client, 'connect')
  let sent = ''
  for (let i = 0; i < 400; i++) {
    const piece = `<${i}>`
    sent += piece
    client.write(piece)
    await tick()
  }
  client.end()
  await done
  t.equal(received, sent, 'every byte, in the order written')
  t.ok(relay.stats.tcpBytes >= sent.length)
})

t.test('UDP: a loss near its probability over 2,000 datagrams (fixed seed), loss on the lossy direction only', async (t) => {
  const server = await udpSocket(t)
  let arrived = 0
  server.on('message', (message, from) => {
    arrived++
    server.send(message, from.port, from.address)
  })
  const relay = await relayOf(t, { routes: [{ protocol: 'udp', listen: { host: HOST, port: 0 }, target: { host: HOST, port: server.address().port } }], up: { lossPercent: 10 }, seed: 42 })
  const client = await udpSocket(t)
  let replies = 0
  client.on('message', () => replies++)
  const total = 2000
  const settled = async (sent: number): Promise<void> => {
    // Windows of 50: what is sent has arrived or was dropped by the relay before more is sent
    // (a burst of 2,000 would overflow the sockets' buffers: a loss that is not the relay's).
    while (arrived + relay.stats.udpLost < sent || replies < arrived) await new Promise((resolve) => setTimeout(resolve, 2))
  }
  for (let i = 0; i < total; i++) {
    client.send(`d${i}`, relay.address(0).port, HOST)
    if (i % 50 === 49) await settled(i + 1)
  }
  await settled(total)
  const lost = total - arrived
  // Binomial(2000, 0.1): mean 200, standard deviation 13.4; ±4 sigma.
  t.ok(lost >= 146 && lost <= 254, `${lost} of ${total} lost (10 % asked)`)
  t.equal(relay.stats.udpLost, lost, 'every loss is the relay\'s, counted')
  t.equal(replies, arrived, 'no reply lost: the way back has no loss')
})

t.test('UDP: each direction delayed; replies go back to the client they answer', async (t) => {
  const server = await udpSocket(t)
  const arrivals = new Map<string, number>()
  server.on('message', (message, from) => {
    arrivals.set(message.toString(), performance.now())
    server.send(Buffer.from(`re ${message.toString()}`), from.port, from.address)
  })
  const relay = await relayOf(t, { routes: [{ protocol: 'udp', listen: { host: HOST, port: 0 }, target: { host: HOST, port: server.address().port } }], up: { delayMs: 40 }, down: { delayMs: 25 } })
  const clients = [await udpSocket(t), await udpSocket(t)]
  const got: string[][] = [[], []]
  const times = new Map<string, number>()
  clients.forEach((client, i) =>
    client.on('message', (message) => {
      got[i]!.push(message.toString())
      times.set(message.toString(), performance.now())
    }),
  )
  const sentAt = new Map<string, number>()
  for (let round = 0; round < 5; round++) {
    for (const [i, client] of clients.entries()) {
      const text = `client${i}-${round}`
      sentAt.set(text, performance.now())
      client.send(text, relay.address(0).port, HOST)
    }
  }
  while (got[0]!.length + got[1]!.length < 10) await new Promise((resolve) => setTimeout(resolve, 10))
  for (const [i, replies] of got.entries()) {
    t.same([...replies].sort(), [0, 1, 2, 3, 4].map((round) => `re client${i}-${round}`), `client ${i} gets its own replies, and only those`)
  }
  for (const [text, sent] of sentAt) {
    const arrived = arrivals.get(text)!
    const back = times.get(`re ${text}`)!
    t.ok(arrived - sent >= 40 && back - arrived >= 25, `${text}: up ${(arrived - sent).toFixed(1)} ms ≥ 40, down ${(back - arrived).toFixed(1)} ms ≥ 25`)
  }
})

t.test('cut: TCP bytes held (not lost, not reordered) and UDP dropped until the heal; new connections held too', async (t) => {
  const echo = await tcpEcho(t)
  const server = await udpSocket(t)
  const udpArrivals: string[] = []
  server.on('message', (message) => udpArrivals.push(message.toString()))
  const relay = await relayOf(t, {
    routes: [
      { protocol: 'tcp', listen: { host: HOST, port: 0 }, target: { host: HOST, port: echo.port } },
      { protocol: 'udp', listen: { host: HOST, port: 0 }, target: { host: HOST, port: server.address().port } },
    ],
  })
  const client = connect(relay.address(0).port, HOST)
  t.teardown(() => client.destroy())
  await once(client, 'connect')
  let echoed = ''
  client.on('data', (chunk: Buffer) => (echoed += chunk.toString()))
  client.write('before\n')
  while (!echoed.includes('before')) await new Promise((resolve) => setTimeout(resolve, 5))

  relay.cut()
  t.equal(relay.isCut, true)
  for (let i = 0; i < 5; i++) client.write(`held ${i}\n`)
  const late = connect(relay.address(0).port, HOST)
  t.teardown(() => late.destroy())
  await once(late, 'connect')
  late.write('late\n')
  const udp = await udpSocket(t)
  for (let i = 0; i < 20; i++) udp.send(`lost ${i}`, relay.address(1).port, HOST)
  // A lower bound, as the delays above: in 300 ms nothing crossed the cut link.
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(echo.arrivals.length, 1, 'no TCP byte reached the target while cut (only the line before)')
  t.same(udpArrivals, [], 'no datagram reached the target while cut')

  relay.heal()
  t.equal(relay.isCut, false)
  udp.send('after', relay.address(1).port, HOST)
  const wanted = ['before', 'held 0', 'held 1', 'held 2', 'held 3', 'held 4'].join('\n') + '\n'
  while (echoed !== wanted || !udpArrivals.includes('after')) await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal(echoed, wanted, 'the held bytes arrive after the heal, in order, none lost')
  t.same(udpArrivals, ['after'], 'the datagrams sent while cut are lost; those after the heal pass')
  t.equal(relay.stats.udpLost, 20)
  let lateEcho = ''
  late.on('data', (chunk: Buffer) => (lateEcho += chunk.toString()))
  while (lateEcho !== 'late\n') await new Promise((resolve) => setTimeout(resolve, 5))
  t.pass('a connection accepted while cut carries its bytes after the heal')
})

t.test('setConditions: a new delay applies to what is sent next; bad conditions change nothing', async (t) => {
  const echo = await tcpEcho(t)
  const relay = await relayOf(t, { routes: [{ protocol: 'tcp', listen: { host: HOST, port: 0 }, target: { host: HOST, port: echo.port } }] })
  const client = connect(relay.address(0).port, HOST)
  t.teardown(() => client.destroy())
  await once(client, 'connect')
  relay.setConditions({ up: { delayMs: 70 }, down: { delayMs: 40 } })
  const sent = performance.now()
  client.write('slow\n')
  await once(client, 'data')
  const roundTrip = performance.now() - sent
  t.ok(roundTrip >= 110, `round trip ${roundTrip.toFixed(1)} ms ≥ 70 + 40 after setConditions`)
  t.throws(() => relay.setConditions({ up: { delayMs: -1 } }), SimError)
  const again = performance.now()
  client.write('still slow\n')
  await once(client, 'data')
  t.ok(performance.now() - again >= 110, 'the refused change left the delay as it was')
})

t.test('bad conditions and an address in use: a clear error, nothing left listening', async (t) => {
  const route = { protocol: 'tcp' as const, listen: { host: HOST, port: 0 }, target: { host: HOST, port: 9 } }
  await t.rejects(WanRelay.start({ routes: [route], up: { delayMs: -1 } }), { code: 'BAD_OPTION', message: /delay -1/ })
  await t.rejects(WanRelay.start({ routes: [{ ...route, protocol: 'udp' }], down: { lossPercent: 101 } }), { code: 'BAD_OPTION', message: /loss 101/ })
  const taken = await tcpEcho(t)
  const error = await WanRelay.start({ routes: [route, { ...route, listen: { host: HOST, port: taken.port } }] }).catch((e: unknown) => e)
  t.ok(error instanceof SimError && error.code === 'RELAY_FAILED', 'RELAY_FAILED when a port is taken')
})

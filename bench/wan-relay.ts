/**
 * The userspace WAN relay's own cost (packages/sim/src/wan-relay.ts, what the multi-host mode
 * puts between sites where the kernel has no netem), at 0 ms configured delay, over loopback:
 *
 * 1. TCP round trip of a 64-byte message on one connection, `--samples` times, direct to an echo
 *    server and through the relay: median and p99 of each, and the relay's added latency.
 * 2. TCP throughput: `--megabytes` MB written through the relay to a sink, MB/s (and direct).
 * 3. UDP: round trip of a 64-byte datagram, one at a time (median, p99, direct and relayed), and
 *    datagrams per second with `--window` datagrams in flight for `--seconds` seconds.
 *
 * The relay runs as its own process (wan-relay-main.js, as in the simulation); the client, echo
 * server and sink share this process. Its CPU time and memory are printed.
 *
 *   npm run build && npx tsx bench/wan-relay.ts [--samples 2000] [--megabytes 200] [--window 64] [--seconds 5]
 *
 * Prints figures, never asserts.
 */
import { spawn } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { loadavg } from 'node:os'
import { createServer, connect, type AddressInfo, type Socket } from 'node:net'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { freePorts } from '@flexseat/sim'
import { cpuMs, percentile, rssMiB } from './stats'

/** Median and p99 in ms with 3 decimals: loopback round trips are tens of microseconds. */
function summary(samples: readonly number[]): { n: number; medianMs: number; p99Ms: number } {
  const round = (x: number): number => Math.round(x * 1000) / 1000
  return { n: samples.length, medianMs: round(percentile(samples, 50)), p99Ms: round(percentile(samples, 99)) }
}

const { values } = parseArgs({ options: { samples: { type: 'string', default: '2000' }, megabytes: { type: 'string', default: '200' }, window: { type: 'string', default: '64' }, seconds: { type: 'string', default: '5' } } })
const SAMPLES = Number(values.samples)
const MEGABYTES = Number(values.megabytes)
const WINDOW = Number(values.window)
const SECONDS = Number(values.seconds)
const HOST = '127.0.0.1'

async function main(): Promise<void> {
  // Echo and sink servers (TCP), echo (UDP).
  const echo = createServer((socket) => socket.on('data', (chunk) => socket.write(chunk)).on('error', () => undefined))
  echo.listen(0, HOST)
  await once(echo, 'listening')
  let sunk = 0
  let sinkDone: (() => void) | undefined
  const sink = createServer((socket) => socket.on('data', (chunk) => {
    sunk += chunk.length
    if (sunk >= MEGABYTES * 1024 * 1024) sinkDone?.()
  }).on('error', () => undefined))
  sink.listen(0, HOST)
  await once(sink, 'listening')
  const udpEcho = createSocket('udp4')
  udpEcho.on('message', (message, from) => udpEcho.send(message, from.port, from.address))
  udpEcho.bind(0, HOST)
  await once(udpEcho, 'listening')

  const [tcpEchoPort, tcpSinkPort, udpPort] = await freePorts(3)
  const routes = [
    { protocol: 'tcp', listen: { host: HOST, port: tcpEchoPort }, target: { host: HOST, port: (echo.address() as AddressInfo).port } },
    { protocol: 'tcp', listen: { host: HOST, port: tcpSinkPort }, target: { host: HOST, port: (sink.address() as AddressInfo).port } },
    { protocol: 'udp', listen: { host: HOST, port: udpPort }, target: { host: HOST, port: udpEcho.address().port } },
  ]
  const relay = spawn(process.execPath, [join(__dirname, '..', 'packages', 'sim', 'dist', 'wan-relay-main.js'), JSON.stringify({ routes })], { stdio: ['pipe', 'pipe', 'inherit'] })
  await new Promise<void>((resolve) => relay.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('relay ready') && resolve()))
  const relayCpu0 = cpuMs(relay.pid!)

  const tcpRtt = async (port: number): Promise<number[]> => {
    const socket = connect({ port, host: HOST, noDelay: true })
    await once(socket, 'connect')
    const samples: number[] = []
    const message = Buffer.alloc(64, 'x')
    for (let i = 0; i < SAMPLES; i++) {
      const start = performance.now()
      socket.write(message)
      let got = 0
      while (got < message.length) got += ((await once(socket, 'data')) as [Buffer])[0].length
      samples.push(performance.now() - start)
    }
    socket.destroy()
    return samples
  }
  const directTcp = summary(await tcpRtt((echo.address() as AddressInfo).port))
  const relayedTcp = summary(await tcpRtt(tcpEchoPort!))

  const throughput = async (port: number): Promise<number> => {
    sunk = 0
    const done = new Promise<void>((resolve) => (sinkDone = resolve))
    const socket: Socket = connect({ port, host: HOST })
    await once(socket, 'connect')
    const chunk = Buffer.alloc(64 * 1024, 'y')
    const start = performance.now()
    for (let sent = 0; sent < MEGABYTES * 1024 * 1024; sent += chunk.length) {
      if (!socket.write(chunk)) await once(socket, 'drain')
    }
    await done
    const seconds = (performance.now() - start) / 1000
    socket.destroy()
    return Math.round((MEGABYTES / seconds) * 10) / 10
  }
  const directMBs = await throughput((sink.address() as AddressInfo).port)
  const relayedMBs = await throughput(tcpSinkPort!)

  const client = createSocket('udp4')
  client.bind(0, HOST)
  await once(client, 'listening')
  const udpRtt = async (port: number): Promise<number[]> => {
    const samples: number[] = []
    for (let i = 0; i < SAMPLES; i++) {
      const start = performance.now()
      client.send(Buffer.alloc(64, 'u'), port, HOST)
      await once(client, 'message')
      samples.push(performance.now() - start)
    }
    return samples
  }
  const directUdp = summary(await udpRtt(udpEcho.address().port))
  const relayedUdp = summary(await udpRtt(udpPort!))
  // Datagrams per second: WINDOW in flight, a new one sent for every echo back.
  let echoed = 0
  const message = Buffer.alloc(64, 'w')
  let stop = false
  const onMessage = (): void => {
    echoed++
    if (!stop) client.send(message, udpPort!, HOST)
  }
  client.on('message', onMessage)
  const start = performance.now()
  for (let i = 0; i < WINDOW; i++) client.send(message, udpPort!, HOST)
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000))
  stop = true
  const rate = Math.round(echoed / ((performance.now() - start) / 1000))

  const relayCpu = cpuMs(relay.pid!) - relayCpu0
  const relayRss = rssMiB(relay.pid!)
  console.log(`WAN relay at 0 ms configured delay (loopback; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')})`)
  console.log(`TCP round trip, 64 B, n=${directTcp.n}: direct median ${directTcp.medianMs} ms p99 ${directTcp.p99Ms} ms; relayed median ${relayedTcp.medianMs} ms p99 ${relayedTcp.p99Ms} ms; added median ${(relayedTcp.medianMs - directTcp.medianMs).toFixed(3)} ms`)
  console.log(`TCP throughput, ${MEGABYTES} MB: direct ${directMBs} MB/s; relayed ${relayedMBs} MB/s`)
  console.log(`UDP round trip, 64 B, n=${directUdp.n}: direct median ${directUdp.medianMs} ms p99 ${directUdp.p99Ms} ms; relayed median ${relayedUdp.medianMs} ms p99 ${relayedUdp.p99Ms} ms; added median ${(relayedUdp.medianMs - directUdp.medianMs).toFixed(3)} ms`)
  console.log(`UDP through the relay, ${WINDOW} in flight, ${SECONDS} s: ${rate} datagrams/s each way (${2 * rate} relayed/s)`)
  console.log(`relay process: ${Math.round(relayCpu)} ms CPU over the UDP and TCP runs, RSS ${relayRss} MiB`)
  client.close()
  relay.kill('SIGTERM')
  echo.close()
  sink.close()
  udpEcho.close()
  await once(relay, 'exit')
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})

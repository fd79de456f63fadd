/**
 * The SIP edge under attack (issue 21), on a real branch (etcd, registry, engine, SIP node; the
 * attacker is a raw UDP socket on 127.0.0.x, as svcrack or a spoofer would send):
 *
 * 1. Password guessing with the site's defaults (sip_security absent): one source guesses one
 *    device's password as fast as the answers come (REGISTER, 401, REGISTER with a wrong digest,
 *    403) for `--guess-seconds`; printed: the guesses the node verified (its `register refused`
 *    lines from that source), their rate, and when the ban came.
 * 2. Challenge amplification, at the same time: one INVITE without credentials from another
 *    address, never ACKed; every byte that comes back until the engine's Timer H (32 s) is over.
 * 3. The timing oracle and the unguarded guessing rate, on a second branch with
 *    `sip_security.enabled: false`: `--probes` wrong-password REGISTERs for an existing device and
 *    as many for unknown ids (a new one each time), interleaved, one at a time; median and p99 of
 *    the time from sending to the 403, for each; the guesses per second they amount to.
 *
 *   npm run build && TAP_TIMEOUT=0 npx tsx bench/sip-edge.ts [--guess-seconds 60] [--probes 1000]
 *   FLEXSEAT_TEST_ENGINE=drachtio-server TAP_TIMEOUT=0 npx tsx bench/sip-edge.ts   (on drachtio-server)
 *
 * (TAP_TIMEOUT=0: the test helpers load tap, whose 30 s default would end the run.)
 *
 * Prints figures, never asserts. Everything runs on the same cores.
 */
import { createHash, randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import { once } from 'node:events'
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { Branches } from '../test/helpers/branches'
import { engineUnderTest } from '../test/helpers/engines'
import { summary } from './stats'

const { values } = parseArgs({ options: { 'guess-seconds': { type: 'string', default: '60' }, probes: { type: 'string', default: '1000' } } })
const GUESS_SECONDS = Number(values['guess-seconds'])
const PROBES = Number(values.probes)
const SITE = 'amsterdam'

const teardowns: (() => void | Promise<void>)[] = []
const t = { teardown: (fn: () => void | Promise<void>) => void teardowns.push(fn) }

const md5 = (text: string): string => createHash('md5').update(text).digest('hex')

/** A UDP endpoint on `address` that sends requests and waits for the final answer by Call-ID. */
class Udp {
  readonly socket = dgram.createSocket('udp4')
  bytesIn = 0
  readonly #waiting = new Map<string, (message: string) => void>()

  static async bind(address: string): Promise<Udp> {
    const udp = new Udp()
    udp.socket.bind(0, address)
    await once(udp.socket, 'listening')
    udp.socket.on('message', (m: Buffer) => {
      udp.bytesIn += m.length
      const text = m.toString('latin1')
      const status = Number(text.slice(8, 11))
      const callId = /^Call-ID:\s*(.+)$/im.exec(text)?.[1]?.trim() ?? ''
      if (status >= 200) udp.#waiting.get(callId)?.(text)
    })
    teardowns.push(() => {
      udp.socket.close()
    })
    return udp
  }

  get port(): number {
    return this.socket.address().port
  }

  get address(): string {
    return this.socket.address().address
  }

  send(text: string, port: number): void {
    this.socket.send(Buffer.from(text, 'latin1'), port, '127.0.0.1')
  }

  /** Sends and resolves with the final answer (undefined after `timeoutMs`). */
  ask(text: string, callId: string, port: number, timeoutMs: number): Promise<string | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(callId)
        resolve(undefined)
      }, timeoutMs)
      this.#waiting.set(callId, (message) => {
        clearTimeout(timer)
        this.#waiting.delete(callId)
        resolve(message)
      })
      this.send(text, port)
    })
  }
}

function register(udp: Udp, sipPort: number, domain: string, user: string, callId: string, cseq: number, authorization?: string): string {
  return [
    `REGISTER sip:${domain} SIP/2.0`,
    `Via: SIP/2.0/UDP ${udp.address}:${udp.port};branch=z9hG4bK${randomBytes(8).toString('hex')};rport`,
    'Max-Forwards: 70',
    `From: <sip:${user}@${domain}>;tag=${callId.slice(0, 8)}`,
    `To: <sip:${user}@${domain}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    `Contact: <sip:${user}@${udp.address}:${udp.port}>`,
    'Expires: 300',
    ...(authorization === undefined ? [] : [`Authorization: ${authorization}`]),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n')
}

function authorization(challenge: string, domain: string, user: string, password: string, nc: number): string {
  const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!
  const realm = /realm="([^"]+)"/.exec(challenge)![1]!
  const ncText = nc.toString(16).padStart(8, '0')
  const cnonce = randomBytes(4).toString('hex')
  const response = md5(`${md5(`${user}:${realm}:${password}`)}:${nonce}:${ncText}:${cnonce}:auth:${md5(`REGISTER:sip:${domain}`)}`)
  return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="sip:${domain}", qop=auth, nc=${ncText}, cnonce="${cnonce}", response="${response}", algorithm=MD5`
}

async function guessing(branches: Branches): Promise<void> {
  const { sipPort, domain } = branches.branch(SITE)
  const device = branches.device('ams-fixed')
  const attacker = await Udp.bind('127.0.0.2')
  const mark = branches.nodeLogMark(SITE)
  const started = Date.now()
  let sent = 0
  let unanswered = 0
  while (Date.now() - started < GUESS_SECONDS * 1_000) {
    const callId = randomBytes(8).toString('hex')
    const challenge = await attacker.ask(register(attacker, sipPort, domain, device.id, callId, 1), callId, sipPort, 12_000)
    if (challenge === undefined) {
      unanswered++
      continue
    }
    if (!challenge.startsWith('SIP/2.0 401')) continue // banned: 403 without a challenge
    sent++
    const answer = await attacker.ask(register(attacker, sipPort, domain, device.id, callId, 2, authorization(challenge, domain, device.id, `guess-${sent}`, 1)), callId, sipPort, 12_000)
    if (answer === undefined) unanswered++
  }
  const seconds = (Date.now() - started) / 1_000
  const verified = branches.nodeLogsMatching(SITE, (l) => l.msg === 'register refused' && String(l['source']).startsWith('127.0.0.2:'), mark)
  const ban = branches.nodeLogsMatching(SITE, (l) => l.msg === 'sip source banned: too many authentication failures', mark)[0]
  const delayed = branches.nodeLogsMatching(SITE, (l) => l.msg === 'sip source delayed: authentication failures', mark)[0]
  console.log(`guessing with the defaults: ${verified.length} guesses verified in ${seconds.toFixed(0)} s (${(verified.length / seconds).toFixed(2)}/s); ` +
    `delayed after ${delayed === undefined ? '-' : `${((delayed.time - started) / 1_000).toFixed(1)} s`}, banned after ${ban === undefined ? '-' : `${((ban.time - started) / 1_000).toFixed(1)} s`}; ${unanswered} requests unanswered within 12 s`)
}

async function amplification(branches: Branches): Promise<void> {
  const { sipPort, domain } = branches.branch(SITE)
  const spoofed = await Udp.bind('127.0.0.3')
  const sdp = ['v=0', 'o=- 1 1 IN IP4 127.0.0.3', 's=-', 'c=IN IP4 127.0.0.3', 't=0 0', 'm=audio 40000 RTP/AVP 0 8 101', 'a=rtpmap:101 telephone-event/8000', ''].join('\r\n')
  const invite = [
    `INVITE sip:2101@${domain} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.3:${spoofed.port};branch=z9hG4bK${randomBytes(8).toString('hex')};rport`,
    'Max-Forwards: 70',
    `From: <sip:ams-fixed@${domain}>;tag=${randomBytes(4).toString('hex')}`,
    `To: <sip:2101@${domain}>`,
    `Call-ID: ${randomBytes(8).toString('hex')}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:ams-fixed@127.0.0.3:${spoofed.port}>`,
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(sdp)}`,
    '',
    sdp,
  ].join('\r\n')
  let datagrams = 0
  spoofed.socket.on('message', () => datagrams++)
  spoofed.send(invite, sipPort)
  await new Promise((resolve) => setTimeout(resolve, 34_000))
  const bytes = Buffer.byteLength(invite, 'latin1')
  console.log(`challenge amplification: one INVITE of ${bytes} bytes without credentials, never ACKed: ${datagrams} datagrams, ${spoofed.bytesIn} bytes back in 34 s (${(spoofed.bytesIn / bytes).toFixed(2)}x)`)
}

async function oracle(branches: Branches): Promise<void> {
  const { sipPort, domain } = branches.branch(SITE)
  const device = branches.device('ams-desk-1')
  const prober = await Udp.bind('127.0.0.4')
  const first = randomBytes(8).toString('hex')
  const challenge = (await prober.ask(register(prober, sipPort, domain, device.id, first, 1), first, sipPort, 5_000))!
  const known: number[] = []
  const unknown: number[] = []
  const started = performance.now()
  for (let i = 0; i < 2 * PROBES; i++) {
    const user = i % 2 === 0 ? device.id : `desk-${randomBytes(4).toString('hex')}`
    const callId = randomBytes(8).toString('hex')
    const request = register(prober, sipPort, domain, user, callId, 2, authorization(challenge, domain, user, 'wrong-password', i + 1))
    const sentAt = performance.now()
    const answer = await prober.ask(request, callId, sipPort, 5_000)
    if (answer?.startsWith('SIP/2.0 403')) (i % 2 === 0 ? known : unknown).push(performance.now() - sentAt)
  }
  const seconds = (performance.now() - started) / 1_000
  const k = summary(known)
  const u = summary(unknown)
  console.log(`timing oracle (guard off): wrong password for an existing device median ${k.medianMs} ms p99 ${k.p99Ms} ms (n=${k.n}); unknown id median ${u.medianMs} ms p99 ${u.p99Ms} ms (n=${u.n}); difference of medians ${Math.abs(k.medianMs - u.medianMs).toFixed(1)} ms`)
  console.log(`guessing without the guard: ${((known.length + unknown.length) / seconds).toFixed(0)} guesses/s from one source, one at a time`)
}

async function main(): Promise<void> {
  console.log(`engine: ${engineUnderTest()}; load before: ${loadavg()[0]!.toFixed(2)}`)
  const defended = await Branches.start(t, { sites: [SITE], logLevel: 'info' })
  await Promise.all([guessing(defended), amplification(defended)])
  await defended.stop()
  const open = await Branches.start(t, { sites: [SITE], logLevel: 'info', sitePatch: (_site, doc) => doc.set('sip_security', { enabled: false }) })
  await oracle(open)
  console.log(`load after: ${loadavg()[0]!.toFixed(2)}`)
}

main()
  .catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
  .finally(async () => {
    for (const teardown of teardowns.reverse()) await Promise.resolve(teardown()).catch(() => undefined)
  })

/**
 * Busy-lamp benchmark (issue 23): `--subs` dialog subscriptions per branch (default 5,000: about
 * 10 lamps on 500 desks) across three branches on this machine (one etcd, a registry, an embedded
 * SIP engine and a SIP node per branch), then calls to watched workers:
 *
 * - state change → NOTIFY at the watching phones (after `--warmup` calls not counted): from the caller's INVITE (sipp, in Chicago) to
 *   the first NOTIFY showing the call (ringing, or already answered: the desk answers at once and
 *   a node reports both states in one batch when they come together) at every lamp watching the
 *   called worker, in every branch (the worker sits in Berlin): median, p99, over `--calls` calls;
 * - memory per subscription: the growth of each branch's node (and engine) resident memory while
 *   its subscriptions were made, divided by their number;
 * - how long subscribing took (SUBSCRIBE, 407, SUBSCRIBE with credentials, 200, first NOTIFY);
 * - what became of the lamp×call pairs without a NOTIFY naming the call within the window (the
 *   hold and 300 ms after): named later (late) or never (the call's states coalesced: the
 *   notifier has one NOTIFY in flight per subscription and sends the latest state when it is
 *   answered, as RFC 6665 allows); whether every lamp's last NOTIFY shows 1001 idle (the final
 *   state must reach every subscriber), NOTIFYs never received (gaps in the versions), received
 *   twice (the engine's retransmissions), and datagrams the kernel dropped at the lamps' sockets.
 *
 * The lamps are one UDP socket per branch speaking SIP (digest authentication, 200 to every
 * NOTIFY), on behalf of that branch's fixed phone, spread over `--workers` seeded worker
 * extensions (the called worker among them).
 *
 *   npm run build && flock /work/.heavy.lock env TAP_TIMEOUT=0 npx tsx bench/blf.ts [--subs 5000] [--workers 100] [--calls 30] [--warmup 3] [--list-keys K] [--rcvbuf-kib 4096]
 *
 * `--list-keys K`: every subscription is a resource list instead (RFC 4662: `sip:blf-list@<domain>`
 * with `Supported: eventlist`), the fixed phones' BLF keys being a profile of K keys (1001 and
 * K-1 other workers), so every list watches 1001 and its NOTIFYs for a call carry 1001 alone.
 *
 * `--rcvbuf-kib`: the receive buffer of each branch's lamp socket (default 4 MiB, the engine's;
 * 0: the kernel's default). One socket stands for all of a branch's phones: with the default
 * 208 KiB, 500 list NOTIFYs arriving at once overflow it, and every NOTIFY dropped waits for the
 * engine's retransmission (500 ms), a phone of its own never would.
 *
 * (TAP_TIMEOUT=0: the test helpers load tap, whose 30 s default would end the run.)
 *
 * Prints figures, never asserts. Everything runs on the same cores (the load generators too).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { Device, FunctionKeyProfile, FunctionKeyType, unary, User } from '@flexseat/proto'
import { Branches, PIN } from '../test/helpers/branches'
import { rssMiB, summary } from './stats'

const { values } = parseArgs({
  options: {
    subs: { type: 'string', default: '5000' },
    workers: { type: 'string', default: '100' },
    calls: { type: 'string', default: '30' },
    'list-keys': { type: 'string', default: '0' },
    'rcvbuf-kib': { type: 'string', default: '4096' },
    warmup: { type: 'string', default: '3' },
  },
})
const SUBS = Number(values.subs)
const WORKERS = Number(values.workers)
const CALLS = Number(values.calls)
/** Calls made first and not counted: the first ones after start are the slowest (code paths not compiled yet). */
const WARMUP = Number(values.warmup)
const LIST_KEYS = Number(values['list-keys'])
/**
 * The lamp farm's UDP receive buffer (the embedded engine's own size; 0: the kernel's default,
 * 208 KiB here, which 500 list NOTIFYs arriving together overflow).
 */
const RCVBUF = Number(values['rcvbuf-kib']) * 1024

const teardowns: (() => void | Promise<void>)[] = []
const t = { teardown: (fn: () => void | Promise<void>) => void teardowns.push(fn) }

const md5 = (text: string): string => createHash('md5').update(text).digest('hex')

/** A NOTIFY seen by a lamp. */
interface Seen {
  at: number
  callIds: string[]
  /** Whether it carries 1001's state (a list's partial NOTIFY carries only the members that changed). */
  watched: boolean
}

/** The datagrams the kernel dropped at the local UDP port `port` (full receive buffer): /proc/net/udp's last column. */
function socketDrops(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0')
  const line = readFileSync('/proc/net/udp', 'utf8').split('\n').find((l) => l.trim().split(/\s+/)[1]?.endsWith(`:${hex}`))
  return line === undefined ? 0 : Number(line.trim().split(/\s+/).at(-1))
}

/** The kernel's count of UDP datagrams dropped for a full receive buffer (all sockets of the machine). */
function udpReceiveBufferErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'))
  const names = lines[0]!.split(/\s+/)
  const values = lines[1]!.split(/\s+/)
  return Number(values[names.indexOf('RcvbufErrors')])
}

/** Many subscriptions from one UDP port, answering every NOTIFY 200. */
class LampFarm {
  readonly #socket: Socket
  readonly #pending = new Map<string, (msg: string) => void>()
  /** NOTIFYs seen per subscription Call-ID. */
  readonly seen = new Map<string, Seen[]>()
  /** Per subscription: the NOTIFY CSeqs seen (a second copy is the engine's retransmission) and the versions. */
  readonly #cseqs = new Map<string, Set<string>>()
  readonly #versions = new Map<string, number[]>()
  /** NOTIFYs received twice (retransmitted by the engine: the first copy or its 200 was lost). */
  retransmitted = 0
  readonly #watching = new Map<string, string>()
  port = 0

  constructor(
    readonly engine: { host: string; port: number },
    readonly device: { id: string; password: string; domain: string },
    readonly list = false,
    rcvbufBytes = 0,
  ) {
    this.#socket = createSocket({ type: 'udp4', ...(rcvbufBytes > 0 ? { recvBufferSize: rcvbufBytes } : {}) })
    this.#socket.on('message', (buf) => this.#onMessage(buf.toString('utf8')))
  }

  async bind(): Promise<void> {
    await new Promise<void>((resolve) => this.#socket.bind(0, '127.0.0.1', resolve))
    this.port = this.#socket.address().port
  }

  close(): void {
    this.#socket.close()
  }

  #onMessage(msg: string): void {
    const callId = header(msg, 'Call-ID')
    if (msg.startsWith('NOTIFY ')) {
      const now = Date.now()
      const reply = ['SIP/2.0 200 OK', ...msg.split('\r\n').filter((l) => /^(via|from|to|call-id|cseq):/i.test(l)), 'Content-Length: 0', '', ''].join('\r\n')
      this.#socket.send(reply, this.engine.port, this.engine.host)
      const cseqs = this.#cseqs.get(callId) ?? new Set<string>()
      this.#cseqs.set(callId, cseqs)
      const cseq = header(msg, 'CSeq')
      if (cseqs.has(cseq)) {
        this.retransmitted++
        return
      }
      cseqs.add(cseq)
      const body = msg.slice(msg.indexOf('\r\n\r\n') + 4)
      // The NOTIFY's own version: the RLMI's for a list, the dialog-info's for a lamp.
      const version = Number((this.list ? /<list [^>]*version="(\d+)"/ : /<dialog-info [^>]*version="(\d+)"/).exec(body)?.[1] ?? NaN)
      const versions = this.#versions.get(callId) ?? []
      versions.push(version)
      this.#versions.set(callId, versions)
      const list = this.seen.get(callId) ?? []
      list.push({ at: now, callIds: [...body.matchAll(/call-id="([^"]*)"/g)].map((m) => m[1]!), watched: !this.list || body.includes('entity="sip:1001@') })
      this.seen.set(callId, list)
      return
    }
    if (msg.startsWith('SIP/2.0 ')) {
      const key = `${callId} ${header(msg, 'CSeq')}`
      const waiter = this.#pending.get(key)
      if (waiter !== undefined && !/^SIP\/2\.0 1\d\d/.test(msg)) {
        this.#pending.delete(key)
        waiter(msg)
      }
    }
  }

  #request(callId: string, cseq: number, extension: string, extra: string[]): Promise<string> {
    const uri = `sip:${extension}@${this.engine.host}:${this.engine.port}`
    const lines = [
      `SUBSCRIBE ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=z9hG4bK${randomBytes(8).toString('hex')};rport`,
      `From: <sip:${this.device.id}@${this.device.domain}>;tag=${callId.slice(0, 8)}`,
      `To: <sip:${extension}@${this.device.domain}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} SUBSCRIBE`,
      `Contact: <sip:${this.device.id}@127.0.0.1:${this.port}>`,
      'Max-Forwards: 70',
      'Event: dialog',
      ...(this.list ? ['Accept: application/rlmi+xml, multipart/related, application/dialog-info+xml', 'Supported: eventlist'] : ['Accept: application/dialog-info+xml']),
      'Expires: 3600',
      ...extra,
      'Content-Length: 0',
      '',
      '',
    ]
    const answered = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(`${callId} ${cseq} SUBSCRIBE`)
        reject(new Error(`no answer to SUBSCRIBE ${callId}`))
      }, 10_000)
      this.#pending.set(`${callId} ${cseq} SUBSCRIBE`, (msg) => {
        clearTimeout(timer)
        resolve(msg)
      })
    })
    this.#socket.send(lines.join('\r\n'), this.engine.port, this.engine.host)
    return answered
  }

  /** Subscribes to `extension` (challenge answered); resolves with the subscription's Call-ID. */
  async subscribe(extension: string): Promise<string> {
    const callId = `lamp-${randomBytes(10).toString('hex')}`
    const challenge = await this.#request(callId, 1, extension, [])
    if (!challenge.startsWith('SIP/2.0 407')) throw new Error(`expected 407: ${challenge.split('\r\n')[0]}`)
    const params = header(challenge, 'Proxy-Authenticate')
    const realm = /realm="([^"]*)"/.exec(params)![1]!
    const nonce = /nonce="([^"]*)"/.exec(params)![1]!
    const uri = `sip:${extension}@${this.engine.host}:${this.engine.port}`
    const cnonce = randomBytes(6).toString('hex')
    const nc = '00000001'
    const response = md5(`${md5(`${this.device.id}:${realm}:${this.device.password}`)}:${nonce}:${nc}:${cnonce}:auth:${md5(`SUBSCRIBE:${uri}`)}`)
    const auth = `Proxy-Authorization: Digest username="${this.device.id}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=${nc}, cnonce="${cnonce}"`
    const answer = await this.#request(callId, 2, extension, [auth])
    if (!answer.startsWith('SIP/2.0 200')) throw new Error(`expected 200: ${answer.split('\r\n')[0]}`)
    this.#watching.set(callId, this.list ? '1001' : extension)
    return callId
  }

  /** NOTIFYs never received (gaps in a subscription's versions, which count up by one per NOTIFY sent). */
  lost(): number {
    let lost = 0
    for (const versions of this.#versions.values()) {
      const sorted = [...versions].sort((a, b) => a - b)
      for (let i = 1; i < sorted.length; i++) lost += Math.max(0, sorted[i]! - sorted[i - 1]! - 1)
    }
    return lost
  }

  /** The subscriptions watching `extension`. */
  watching(extension: string): string[] {
    return [...this.#watching].filter(([, ext]) => ext === extension).map(([id]) => id)
  }
}

function header(msg: string, name: string): string {
  const line = msg.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
  return line === undefined ? '' : line.slice(line.indexOf(':') + 1).trim()
}

/** Runs `work` over `items` with at most `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await work(items[next++]!)
  }))
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0]!
  const branches = await Branches.start(t, { logLevel: 'info' })
  // Watched workers: 1001 (seated in Berlin, called below) and `--workers` more.
  const extensions = ['1001']
  for (let i = 0; i < WORKERS; i++) {
    const extension = String(5000 + i)
    extensions.push(extension)
  }
  // Two at a time: each one hashes a PIN (scrypt), which a busy machine takes its time over.
  await pool(extensions.slice(1), 2, (extension) => branches.addWorker(User.fromPartial({ id: `w${extension}`, extension, displayName: `Worker ${extension}`, homeSiteId: 'amsterdam', roamingAllowed: true }), '2468'))
  const berDesk = await branches.phone('berlin', 'ber-desk-1').start({ mode: 'answer' })
  const chiFixed = await branches.phone('chicago', 'chi-fixed').start()
  const signIn = await berDesk.dial(`*51*1001*${PIN['1001']}`)
  if (signIn.reason !== 'Signed in as 1001') throw new Error(`sign-in failed: ${signIn.status} ${signIn.reason}`)
  if (LIST_KEYS > 0) {
    const { directory } = branches.admin()
    const metadata = branches.registry.metadata('admin')
    const keys = extensions.slice(0, LIST_KEYS).map((value) => ({ type: FunctionKeyType.FUNCTION_KEY_TYPE_BLF, value, label: value }))
    await unary(directory.setFunctionKeyProfile.bind(directory), { requestId: randomUUID(), profile: FunctionKeyProfile.fromPartial({ name: 'bench-blf', keys }) }, { metadata, timeoutMs: 10_000 })
    for (const branch of branches.branches) {
      const id = `${branch.id.slice(0, 3)}-fixed`
      await unary(directory.updateDevice.bind(directory), { requestId: randomUUID(), device: Device.fromPartial({ id, functionKeyProfile: 'bench-blf' }), updateMask: ['function_key_profile'] }, { metadata, timeoutMs: 10_000 })
    }
  }
  // Let the nodes' directories see the new workers (refreshed every 10 s).
  await new Promise((resolve) => setTimeout(resolve, 11_000))

  const farms: LampFarm[] = []
  const memory: Record<string, unknown>[] = []
  for (const branch of branches.branches) {
    const fixed = branches.device(`${branch.id.slice(0, 3)}-fixed`)
    const farm = new LampFarm({ host: '127.0.0.1', port: branch.sipPort }, { id: fixed.id, password: fixed.password, domain: branch.domain }, LIST_KEYS > 0, RCVBUF)
    await farm.bind()
    teardowns.push(() => farm.close())
    farms.push(farm)
    const nodePid = branch.node!.pid
    const enginePid = branch.engine.pid
    const before = { node: rssMiB(nodePid), engine: rssMiB(enginePid) }
    const started = performance.now()
    const targets = Array.from({ length: SUBS }, (_, i) => extensions[i % extensions.length]!)
    await pool(targets, 50, async (ext) => {
      await farm.subscribe(LIST_KEYS > 0 ? 'blf-list' : ext)
    })
    const ms = performance.now() - started
    // Let the first NOTIFYs settle and the heap grow what it grows.
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    const after = { node: rssMiB(nodePid), engine: rssMiB(enginePid) }
    memory.push({
      site: branch.id,
      subscriptions: SUBS,
      subscribeSeconds: Math.round(ms / 100) / 10,
      perSecond: Math.round(SUBS / (ms / 1000)),
      nodeRssMiB: `${before.node} → ${after.node}`,
      nodeKiBPerSubscription: Math.round(((after.node - before.node) * 1024 * 10) / SUBS) / 10,
      engineRssMiB: `${before.engine} → ${after.engine}`,
      engineKiBPerSubscription: Math.round(((after.engine - before.engine) * 1024 * 10) / SUBS) / 10,
    })
  }
  console.log(LIST_KEYS > 0 ? `list subscriptions (${LIST_KEYS} BLF keys each) and memory per branch:` : 'subscriptions and memory per branch:')
  console.table(memory)

  const perBranch = new Map<string, number[]>(branches.branches.map((b) => [b.id, []]))
  const all: number[] = []
  let missing = 0
  let lastInvite = 0
  /** Per call: its lamps' fastest and slowest NOTIFY (a tail shared by all lamps comes before the fan-out). */
  const perCall: { call: number; firstMs: number; medianMs: number; lastMs: number }[] = []
  /** The lamp×call pairs without a NOTIFY naming the call within the window (classified at the end). */
  const unseen: { farm: LampFarm; sub: string; callId: string }[] = []
  const rcvbufErrorsBefore = udpReceiveBufferErrors()
  const farmDropsBefore = farms.map((f) => socketDrops(f.port))
  for (let i = -WARMUP; i < CALLS; i++) {
    const call = await chiFixed.dial('1001', { holdMs: 300, timeoutSec: 20 })
    const sent = call.invitedAt
    lastInvite = sent ?? lastInvite
    if (sent === undefined || !call.answered) throw new Error(`call ${i} failed: ${call.status} ${call.reason}`)
    // The NOTIFYs of the call's end arrive within the hold; wait a little more for stragglers.
    await new Promise((resolve) => setTimeout(resolve, 300))
    if (i < 0) continue
    const callSamples: number[] = []
    for (const [index, farm] of farms.entries()) {
      for (const sub of farm.watching('1001')) {
        const first = farm.seen.get(sub)?.find((s) => s.callIds.includes(call.callId))
        if (first === undefined) {
          missing++
          unseen.push({ farm, sub, callId: call.callId })
          continue
        }
        const latency = first.at - sent
        perBranch.get(branches.branches[index]!.id)!.push(latency)
        all.push(latency)
        callSamples.push(latency)
      }
    }
    callSamples.sort((a, b) => a - b)
    const ms = (value: number): number => Math.round(value * 10) / 10
    if (callSamples.length > 0) perCall.push({ call: i, firstMs: ms(callSamples[0]!), medianMs: ms(callSamples[Math.floor(callSamples.length / 2)]!), lastMs: ms(callSamples.at(-1)!) })
  }
  const rcvbufErrors = udpReceiveBufferErrors() - rcvbufErrorsBefore
  const farmDrops = farms.reduce((n, f, i) => n + socketDrops(f.port) - farmDropsBefore[i]!, 0)
  // The final state: once the engine's retransmissions are over (T1 = 500 ms doubling: 4 s covers
  // three), every lamp's last NOTIFY carrying 1001 must show it idle.
  await new Promise((resolve) => setTimeout(resolve, 4_000))
  // A pair whose NOTIFY naming the call came after the window was late; one that never got any
  // skipped the call's states (the notifier sends the latest state once the NOTIFY in flight is
  // answered: the call had ended by then).
  const late = unseen.filter(({ farm, sub, callId }) => farm.seen.get(sub)?.some((s) => s.callIds.includes(callId))).length
  let notIdle = 0
  // A subscription the node dropped (a NOTIFY refused or unanswered ends it) hears nothing after.
  let quiet = 0
  for (const farm of farms) {
    for (const sub of farm.watching('1001')) {
      if (!(farm.seen.get(sub) ?? []).some((s) => s.at >= lastInvite)) quiet++
      const last = (farm.seen.get(sub) ?? []).filter((s) => s.watched).at(-1)
      if (last === undefined || last.callIds.length > 0) notIdle++
    }
  }
  const watchers = farms.reduce((n, f) => n + f.watching('1001').length, 0)
  console.log(`\ncaller's INVITE (Chicago) → first NOTIFY naming the call at each lamp watching 1001 (seated in Berlin): ${CALLS} calls × ${watchers} lamps`)
  console.table([...perBranch].map(([site, samples]) => ({ lamps: site, ...summary(samples) })))
  console.log('all lamps:', summary(all), missing === 0 ? '' : `(${missing} lamp×call pairs saw no NOTIFY naming the call within the window: ${late} got it later, ${missing - late} never: the call's states coalesced away)`)
  console.log(`final state: ${watchers - notIdle} of ${watchers} lamps show 1001 idle after the last call, ${quiet} heard nothing of it; NOTIFYs never received ${farms.reduce((n, f) => n + f.lost(), 0)}, received twice (retransmitted) ${farms.reduce((n, f) => n + f.retransmitted, 0)}; UDP datagrams dropped for a full receive buffer during the calls: ${farmDrops} at the lamps' sockets, ${rcvbufErrors} on the whole machine`)
  console.log('the slowest calls (by their slowest lamp): first, median and last lamp NOTIFYed, ms')
  console.table(perCall.sort((a, b) => b.lastMs - a.lastMs).slice(0, 5))
  console.log(`load average: ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after`)
}

main()
  .catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
  .finally(async () => {
    for (const fn of teardowns.reverse()) await Promise.resolve(fn()).catch(() => undefined)
  })

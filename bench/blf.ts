/**
 * Busy-lamp benchmark (issue 23): `--subs` dialog subscriptions per branch (default 5,000: about
 * 10 lamps on 500 desks) across three branches on this machine (one etcd, a registry, an embedded
 * SIP engine and a SIP node per branch), then calls to watched workers:
 *
 * - state change → NOTIFY at the watching phones: from the caller's INVITE (sipp, in Chicago) to
 *   the first NOTIFY showing the call (ringing, or already answered: the desk answers at once and
 *   a node reports both states in one batch when they come together) at every lamp watching the
 *   called worker, in every branch (the worker sits in Berlin): median, p99, over `--calls` calls;
 * - memory per subscription: the growth of each branch's node (and engine) resident memory while
 *   its subscriptions were made, divided by their number;
 * - how long subscribing took (SUBSCRIBE, 407, SUBSCRIBE with credentials, 200, first NOTIFY).
 *
 * The lamps are one UDP socket per branch speaking SIP (digest authentication, 200 to every
 * NOTIFY), on behalf of that branch's fixed phone, spread over `--workers` seeded worker
 * extensions (the called worker among them).
 *
 *   npm run build && flock /work/.heavy.lock env TAP_TIMEOUT=0 npx tsx bench/blf.ts [--subs 5000] [--workers 100] [--calls 30] [--list-keys K]
 *
 * `--list-keys K`: every subscription is a resource list instead (RFC 4662: `sip:blf-list@<domain>`
 * with `Supported: eventlist`), the fixed phones' BLF keys being a profile of K keys (1001 and
 * K-1 other workers), so every list watches 1001 and its NOTIFYs for a call carry 1001 alone.
 *
 * (TAP_TIMEOUT=0: the test helpers load tap, whose 30 s default would end the run.)
 *
 * Prints figures, never asserts. Everything runs on the same cores (the load generators too).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
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
  },
})
const SUBS = Number(values.subs)
const WORKERS = Number(values.workers)
const CALLS = Number(values.calls)
const LIST_KEYS = Number(values['list-keys'])

const teardowns: (() => void | Promise<void>)[] = []
const t = { teardown: (fn: () => void | Promise<void>) => void teardowns.push(fn) }

const md5 = (text: string): string => createHash('md5').update(text).digest('hex')

/** A NOTIFY seen by a lamp. */
interface Seen {
  at: number
  callIds: string[]
}

/** Many subscriptions from one UDP port, answering every NOTIFY 200. */
class LampFarm {
  readonly #socket: Socket
  readonly #pending = new Map<string, (msg: string) => void>()
  /** NOTIFYs seen per subscription Call-ID. */
  readonly seen = new Map<string, Seen[]>()
  readonly #watching = new Map<string, string>()
  port = 0

  constructor(
    readonly engine: { host: string; port: number },
    readonly device: { id: string; password: string; domain: string },
    readonly list = false,
  ) {
    this.#socket = createSocket('udp4')
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
      const body = msg.slice(msg.indexOf('\r\n\r\n') + 4)
      const list = this.seen.get(callId) ?? []
      list.push({ at: now, callIds: [...body.matchAll(/call-id="([^"]*)"/g)].map((m) => m[1]!)})
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
    const farm = new LampFarm({ host: '127.0.0.1', port: branch.sipPort }, { id: fixed.id, password: fixed.password, domain: branch.domain }, LIST_KEYS > 0)
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
  for (let i = 0; i < CALLS; i++) {
    const call = await chiFixed.dial('1001', { holdMs: 300, timeoutSec: 20 })
    const sent = call.invitedAt
    if (sent === undefined || !call.answered) throw new Error(`call ${i} failed: ${call.status} ${call.reason}`)
    // The NOTIFYs of the call's end arrive within the hold; wait a little more for stragglers.
    await new Promise((resolve) => setTimeout(resolve, 300))
    for (const [index, farm] of farms.entries()) {
      for (const sub of farm.watching('1001')) {
        const first = farm.seen.get(sub)?.find((s) => s.callIds.includes(call.callId))
        if (first === undefined) {
          missing++
          continue
        }
        const latency = first.at - sent
        perBranch.get(branches.branches[index]!.id)!.push(latency)
        all.push(latency)
      }
    }
  }
  const watchers = farms.reduce((n, f) => n + f.watching('1001').length, 0)
  console.log(`\ncaller's INVITE (Chicago) → first NOTIFY naming the call at each lamp watching 1001 (seated in Berlin): ${CALLS} calls × ${watchers} lamps`)
  console.table([...perBranch].map(([site, samples]) => ({ lamps: site, ...summary(samples) })))
  console.log('all lamps:', summary(all), missing === 0 ? '' : `(${missing} lamp×call pairs saw no NOTIFY naming the call)`)
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

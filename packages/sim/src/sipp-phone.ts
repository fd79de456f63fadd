import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { createSocket } from 'node:dgram'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { SimError } from './errors'
import { claimPort, freeUdpPortRange } from './free-port'
import { TetheredProcess } from './tethered-process'

/**
 * The sipp scenarios of the simulated phones (packages/sim/sipp): register with digest, answer
 * what arrives (MESSAGE, INVITE), dial (INVITE with a 407 challenge, any final response).
 */
export const SIPP_SCENARIOS = resolve(__dirname, '..', 'sipp')

/** What a phone needs to reach its branch. */
export interface PhoneAccount {
  /** Device id = digest username. */
  deviceId: string
  password: string
  /** The branch's SIP domain (digest realm). */
  domain: string
  /** host:port of the branch's SIP engine (UDP). */
  registrar: string
}

/** One message in a sipp message log. */
export interface TracedMessage {
  /** Wall-clock time, ms since the epoch (microseconds as a fraction). */
  at: number
  direction: 'sent' | 'received'
  /** `INVITE sip:… SIP/2.0` or `SIP/2.0 480 Signed in as 1001`. */
  startLine: string
  /** Header lines as written. */
  headers: string[]
  body: string
}

/** The outcome of one dial. */
export interface DialOutcome {
  /** The final response to the (authenticated) INVITE. */
  status: number
  reason: string
  /** When the first INVITE left, and when the final response arrived (ms since the epoch). */
  sentAt: number
  finalAt: number
  /** Every message of the dialogue. */
  messages: TracedMessage[]
}

const SEPARATOR = /^-{20,} (\d{4})-(\d{2})-(\d{2})[ \t](\d{2}):(\d{2}):(\d{2})\.(\d{6})/

/** Parses a sipp `-trace_msg` log into messages (sipp writes local time, to the microsecond). */
export function parseSippMessageLog(text: string): TracedMessage[] {
  const messages: TracedMessage[] = []
  const blocks = text.split(/\r?\n(?=-{20,} \d{4}-)/)
  for (const block of blocks) {
    const lines = block.split(/\r?\n/)
    const stamp = SEPARATOR.exec(lines[0] ?? '')
    if (!stamp) continue
    const [, y, mo, d, h, mi, s, micro] = stamp.map(Number) as number[]
    const at = new Date(y!, mo! - 1, d!, h!, mi!, s!).getTime() + micro! / 1000
    const direction = /message sent/i.test(lines[1] ?? '') ? 'sent' : 'received'
    // lines[1] says sent/received, lines[2] is blank, then the SIP message.
    const sip = lines.slice(3)
    const blank = sip.findIndex((line) => line.trim() === '')
    const head = blank === -1 ? sip : sip.slice(0, blank)
    const body = blank === -1 ? '' : sip.slice(blank + 1).join('\n').trim()
    if (head[0] === undefined || head[0].trim() === '') continue
    messages.push({ at, direction, startLine: head[0].trim(), headers: head.slice(1), body })
  }
  return messages
}

/** The value of the first header `name` of `message` (case-insensitive), or undefined. */
export function headerOf(message: TracedMessage, name: string): string | undefined {
  const prefix = `${name.toLowerCase()}:`
  const line = message.headers.find((h) => h.toLowerCase().startsWith(prefix))
  return line?.slice(prefix.length).trim()
}

/**
 * A desk phone played by sipp: it registers its device account (digest) from a local port,
 * then a second sipp on that same port answers whatever the branch sends to the phone — MESSAGEs
 * for its display are answered 200, INVITEs ring and are answered — and logs every message, so
 * {@link received} tells what the phone got and when. {@link dial} places a call (or dials a
 * feature code) from a fresh port with the same credentials. Every sipp is tethered to this
 * process; {@link stop} ends them.
 */
export class SippPhone {
  readonly account: PhoneAccount
  readonly port: number
  readonly #dir: string
  #answering: TetheredProcess | undefined
  readonly #running = new Set<TetheredProcess>()

  private constructor(account: PhoneAccount, port: number, dir: string) {
    this.account = account
    this.port = port
    this.#dir = dir
  }

  /** Registers the phone (expires in `expiresSeconds`, default 3600) and starts answering. */
  static async register(account: PhoneAccount, options: { expiresSeconds?: number } = {}): Promise<SippPhone> {
    const phone = new SippPhone(account, await freeUdpPort(), await mkdtemp(join(tmpdir(), `flexseat-phone-${account.deviceId}-`)))
    try {
      const log = join(phone.#dir, 'register.log')
      const code = await phone.#run(
        ['-sf', join(SIPP_SCENARIOS, 'phone-register.xml'), '-p', String(phone.port), '-key', 'expires', String(options.expiresSeconds ?? 3600), '-message_file', log],
        10,
      )
      const final = parseSippMessageLog(await readFile(log, 'utf8').catch(() => '')).filter((m) => m.direction === 'received' && /^SIP\/2\.0 [2-6]\d\d/.test(m.startLine)).pop()
      if (code !== 0 || final === undefined || !/^SIP\/2\.0 200/.test(final.startLine)) {
        throw new SimError('PHONE_FAILED', `${account.deviceId} could not register at ${account.registrar}: ${final?.startLine ?? `sipp exit code ${code}`}`)
      }
      phone.#answering = await phone.#spawn([
        '-sf', join(SIPP_SCENARIOS, 'phone-answer.xml'), '-p', String(phone.port), '-m', '1000000', '-timeout', '3600s', '-aa',
        '-message_file', join(phone.#dir, 'answer.log'),
      ], { uas: true })
      await waitUntilBound(phone.port, () => phone.#answering?.running !== true)
      return phone
    } catch (error) {
      await phone.stop()
      throw error
    }
  }

  /** Everything the phone received while answering (MESSAGEs, INVITEs, ...), oldest first. */
  async received(): Promise<TracedMessage[]> {
    const text = await readFile(join(this.#dir, 'answer.log'), 'utf8').catch(() => '')
    return parseSippMessageLog(text).filter((m) => m.direction === 'received')
  }

  /** Waits until the phone received a message `match` accepts; undefined after `timeoutMs`. */
  async waitFor(match: (message: TracedMessage) => boolean, timeoutMs: number): Promise<TracedMessage | undefined> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = (await this.received()).find(match)
      if (found !== undefined || Date.now() >= deadline) return found
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  /**
   * Dials `number` (a feature code, an extension, an emergency number) and returns the final
   * response. An answered call is held 200 ms and hung up.
   */
  async dial(number: string): Promise<DialOutcome> {
    const log = join(this.#dir, `dial-${Date.now()}-${Math.random().toString(16).slice(2, 8)}.log`)
    const code = await this.#run(
      ['-sf', join(SIPP_SCENARIOS, 'phone-dial.xml'), '-p', String(await freeUdpPort()), '-s', number, '-key', 'extra', `X-Phone: ${this.account.deviceId}`, '-d', '200', '-message_file', log,
        // The digest covers the Request-URI (the node checks it), not sipp's default target URI.
        '-auth_uri', `${number}@${this.account.registrar}`],
      20,
    )
    const messages = parseSippMessageLog(await readFile(log, 'utf8').catch(() => ''))
    const first = messages.find((m) => m.direction === 'sent' && m.startLine.startsWith('INVITE '))
    const finals = messages.filter((m) => m.direction === 'received' && /^SIP\/2\.0 [2-6]\d\d /.test(m.startLine) && headerOf(m, 'CSeq')?.endsWith('INVITE') === true)
    const final = finals.filter((m) => !/^SIP\/2\.0 40[17] /.test(m.startLine) || finals.length === 1).pop()
    if (first === undefined || final === undefined) throw new SimError('PHONE_FAILED', `${this.account.deviceId} dialling got no final response (sipp exit code ${code})`)
    const [, status, reason] = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(final.startLine) as RegExpExecArray
    return { status: Number(status), reason: reason ?? '', sentAt: first.at, finalAt: final.at, messages }
  }

  /** Stops the phone's sipp processes and removes its logs. Idempotent. */
  async stop(): Promise<void> {
    await Promise.all([...this.#running].map((p) => p.stop(1_000)))
    await rm(this.#dir, { recursive: true, force: true })
  }

  async #run(args: string[], timeoutSeconds: number): Promise<number | null> {
    const child = await this.#spawn([...args, '-m', '1', '-timeout', `${timeoutSeconds}s`, '-timeout_error'], { uas: false })
    const exit = await child.exited
    this.#running.delete(child)
    return exit.code
  }

  async #spawn(args: string[], options: { uas: boolean }): Promise<TetheredProcess> {
    const [host, port] = this.account.registrar.split(':') as [string, string]
    const common = [
      '-i', host, '-t', 'u1', '-nostdin', '-trace_msg',
      '-au', this.account.deviceId, '-ap', this.account.password,
      '-key', 'device', this.account.deviceId, '-key', 'domain', this.account.domain,
      '-mp', String(await freeUdpPortRange()),
    ]
    const child = await TetheredProcess.spawn('sipp', [...(options.uas ? [] : [`${host}:${port}`]), ...common, ...args], { cwd: this.#dir })
    child.stdout.resume()
    child.stderr.resume()
    this.#running.add(child)
    return child
  }
}

/** A UDP port free at the moment of asking (sipp binds it a moment later). */
async function freeUdpPort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer()
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => {
        const address = server.address()
        server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
      })
    })
    const free = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4')
      socket.once('error', () => resolve(false))
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)))
    })
    if (free && claimPort(port)) return port
  }
}

/** Waits until something listens on UDP `port` (read from /proc/net/udp), or `gaveUp` says so. */
async function waitUntilBound(port: number, gaveUp: () => boolean): Promise<void> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `
  const deadline = Date.now() + 5_000
  while (Date.now() < deadline) {
    if (gaveUp()) break
    const table = await readFile('/proc/net/udp', 'utf8')
    if (table.split('\n').some((line) => (line.trim().split(/\s+/)[1] ?? '').concat(' ').includes(hex))) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new SimError('PHONE_FAILED', `the simulated phone's sipp did not listen on UDP ${port}`)
}

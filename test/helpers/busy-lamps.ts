/**
 * Busy lamps on sipp: a desk phone's BLF key as a sipp UAC that subscribes (`Event: dialog` by
 * default) to an extension with the device's digest credentials (407 challenge answered), then
 * answers every NOTIFY 200. With `refreshAfterMs` it refreshes the subscription in its dialog
 * once no NOTIFY came for that long; with `unsubscribeAfterMs` it then unsubscribes
 * (`Expires: 0`) once quiet that long and ends after the final NOTIFY. Without them it watches
 * until stopped (or `watchSec`). A refusal (404, 489, 423, ...) ends it at once.
 *
 * The scenario is written per watcher (sipp's recv timeouts take no keywords); the message log
 * is read live: {@link LampWatcher.notifies} parses the NOTIFYs received.
 *
 * ```ts
 * const lamp = await LampWatcher.start(t, branches.phone('berlin', 'ber-desk-2'), '1001')
 * await lamp.waitForState((s) => s.dialogs.some((d) => d.state === 'early'), 5_000, 'ringing')
 * ```
 */
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freeUdpPortRange, TetheredProcess } from '@flexseat/sim'
import type { Phone } from './branches'
import { freePort, type TestLike } from './sip-engine'
import { parseSippTrace, type SippTraceEntry } from './sipp'

/** One dialog of a NOTIFY's dialog-info. */
export interface LampDialogSeen {
  id: string
  callId: string
  state: string
  direction: string
  localTag: string
  remoteTag: string
  remote: string
  remoteDisplay: string
}

/** One NOTIFY as the phone received it. */
export interface LampState {
  time: number
  version: number
  entity: string
  subscriptionState: string
  dialogs: LampDialogSeen[]
  message: SippTraceEntry
}

/** Options of {@link LampWatcher.start}. */
export interface LampOptions {
  event?: string
  /** Expires of the SUBSCRIBE (default 600); `''` leaves the header out. */
  expires?: number | ''
  refreshAfterMs?: number
  unsubscribeAfterMs?: number
  /** How long sipp runs at most (default 120 s). */
  watchSec?: number
  /** The phone's local port (default a free one). */
  port?: number
  /**
   * A resource-list subscription as Snom's and Poly's BLF lists send it (RFC 4662): `Supported:
   * eventlist` and `Accept: application/rlmi+xml, multipart/related, application/dialog-info+xml`;
   * `{ supported: false }` leaves out the `Supported` header.
   */
  list?: boolean | { supported: boolean }
  /** The `Accept` header's value (default: as `list` says). */
  accept?: string
}

/** One resource of a list NOTIFY's RLMI, with its dialog-info part (when it has an instance). */
export interface ListResourceSeen {
  uri: string
  name: string
  instance?: { id: string; state: string; cid: string }
  /** The dialog-info of the part the instance's cid names (undefined: no such part). */
  dialogInfo?: { version: number; entity: string; dialogs: LampDialogSeen[] }
}

/** One resource-list NOTIFY as the phone received it (RFC 4662). */
export interface ListState {
  time: number
  subscriptionState: string
  contentType: string
  require: string
  /** The RLMI's list uri, version and fullState. */
  uri: string
  version: number
  fullState: boolean
  resources: ListResourceSeen[]
  /** Every part's Content-Type, in order (the RLMI first). */
  partTypes: string[]
  /** The RLMI part's Content-ID (without brackets) and the `start` parameter (with them, as sent). */
  rlmiCid: string
  start: string
  message: SippTraceEntry
}

/** Parses a dialog-info body (the attributes the tests look at). */
export function parseDialogInfo(body: string): { version: number; entity: string; dialogs: LampDialogSeen[] } {
  const attr = (text: string, name: string): string => new RegExp(`\\b${name}="([^"]*)"`).exec(text)?.[1] ?? ''
  const root = /<dialog-info\b[^>]*>/.exec(body)?.[0] ?? ''
  const dialogs = [...body.matchAll(/<dialog\s([^>]*)>([\s\S]*?)<\/dialog>/g)].map((m) => {
    const remote = /<remote>[\s\S]*?<identity([^>]*)>([^<]*)<\/identity>/.exec(m[2]!)
    return {
      id: attr(m[1]!, 'id'),
      callId: attr(m[1]!, 'call-id'),
      direction: attr(m[1]!, 'direction'),
      localTag: attr(m[1]!, 'local-tag'),
      remoteTag: attr(m[1]!, 'remote-tag'),
      state: /<state[^>]*>([^<]*)<\/state>/.exec(m[2]!)?.[1] ?? '',
      remote: remote?.[2] ?? '',
      remoteDisplay: remote === null ? '' : attr(remote[1]!, 'display'),
    }
  })
  return { version: Number(attr(root, 'version')), entity: attr(root, 'entity'), dialogs }
}

/** Parses a `multipart/related` RLMI body (RFC 4662 §5): the RLMI and the dialog-info parts. */
export function parseResourceList(contentType: string, body: string): Omit<ListState, 'time' | 'subscriptionState' | 'require' | 'message'> {
  const param = (name: string): string => new RegExp(`;\\s*${name}="?([^";]*)"?`, 'i').exec(contentType)?.[1] ?? ''
  const boundary = param('boundary')
  const parts = boundary === ''
    ? []
    : body.split(`--${boundary}`).slice(1).filter((p) => !p.startsWith('--')).map((p) => {
      const text = p.replace(/^\r?\n/, '')
      const split = text.search(/\r?\n\r?\n/)
      const head = split < 0 ? text : text.slice(0, split)
      const content = split < 0 ? '' : text.slice(split).replace(/^\r?\n\r?\n/, '')
      const header = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(head)?.[1]?.trim() ?? ''
      return { type: header('content-type'), cid: header('content-id').replace(/^<|>$/g, ''), content }
    })
  const rlmi = parts[0]?.content ?? ''
  const attr = (text: string, name: string): string => new RegExp(`\\b${name}="([^"]*)"`).exec(text)?.[1] ?? ''
  const root = /<list\b[^>]*>/.exec(rlmi)?.[0] ?? ''
  const resources = [...rlmi.matchAll(/<resource\s([^>]*)>([\s\S]*?)<\/resource>/g)].map((m): ListResourceSeen => {
    const instance = /<instance\s([^>]*)\/?>/.exec(m[2]!)
    const name = /<name>([^<]*)<\/name>/.exec(m[2]!)?.[1] ?? ''
    if (instance === null) return { uri: attr(m[1]!, 'uri'), name }
    const cid = attr(instance[1]!, 'cid')
    const part = parts.find((p) => p.cid === cid)
    return { uri: attr(m[1]!, 'uri'), name, instance: { id: attr(instance[1]!, 'id'), state: attr(instance[1]!, 'state'), cid }, ...(part === undefined ? {} : { dialogInfo: parseDialogInfo(part.content) }) }
  })
  return { contentType, uri: attr(root, 'uri'), version: Number(attr(root, 'version')), fullState: attr(root, 'fullState') === 'true', resources, partTypes: parts.map((p) => p.type), rlmiCid: parts[0]?.cid ?? '', start: param('start') }
}

/** See the file comment. */
export class LampWatcher {
  readonly #trace: string
  readonly #child: TetheredProcess
  readonly exited: Promise<{ code: number | null; output: string }>

  private constructor(trace: string, child: TetheredProcess, exited: Promise<{ code: number | null; output: string }>) {
    this.#trace = trace
    this.#child = child
    this.exited = exited
  }

  /** Starts the subscriber for `phone`'s device, watching `extension`; killed in `t.teardown`. */
  static async start(t: TestLike, phone: Phone, extension: string, options: LampOptions = {}): Promise<LampWatcher> {
    const id = randomUUID().slice(0, 8)
    const dir = await mkdtemp(join(tmpdir(), 'flexseat-lamp-'))
    const scenario = join(dir, `lamp-${id}.xml`)
    const trace = join(dir, `lamp-${id}.messages.log`)
    await writeFile(scenario, subscriberScenario(options))
    const expires = options.expires ?? 600
    const args = [
      phone.registrar,
      '-sf', scenario,
      '-i', '127.0.0.1', '-p', String(options.port ?? (await freePort())), '-mp', String(await freeUdpPortRange()),
      '-t', 'u1', '-m', '1', '-nostdin',
      '-timeout', `${options.watchSec ?? 120}s`,
      '-trace_msg', '-message_file', trace,
      '-s', extension,
      '-key', 'device', phone.deviceId, '-key', 'domain', phone.domain, '-key', 'event', options.event ?? 'dialog',
      '-key', 'expires', expires === '' ? 'X-Test-Expires: none' : `Expires: ${expires}`,
      '-key', 'accept', `Accept: ${options.accept ?? (options.list === undefined || options.list === false ? 'application/dialog-info+xml' : 'application/rlmi+xml, multipart/related, application/dialog-info+xml')}`,
      '-key', 'supported', options.list === true || (typeof options.list === 'object' && options.list.supported) ? 'Supported: eventlist' : 'X-Test-Supported: none',
      '-au', phone.deviceId, '-ap', phone.password, '-auth_uri', `${extension}@${phone.registrar}`,
    ]
    const child = await TetheredProcess.spawn('sipp', args, { cwd: dir })
    let output = ''
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8')
      stream.on('data', (chunk: string) => (output = (output + chunk).slice(-4_000)))
    }
    const exited = child.exited.then((exit) => ({ code: exit.code, output }))
    const watcher = new LampWatcher(trace, child, exited)
    t.teardown(async () => {
      await watcher.stop()
      await rm(dir, { recursive: true, force: true })
    })
    return watcher
  }

  /** Every message of the dialogue so far (sent and received). */
  messages(): SippTraceEntry[] {
    try {
      return parseSippTrace(readFileSync(this.#trace, 'utf8'))
    } catch {
      return []
    }
  }

  /** The final response to the (authenticated) SUBSCRIBE, once there is one. */
  answer(): SippTraceEntry | undefined {
    return this.messages().find((m) => m.direction === 'received' && m.cseqMethod === 'SUBSCRIBE' && m.status !== undefined && m.status >= 200 && m.status !== 407)
  }

  /** The NOTIFYs received (retransmissions once), in order. */
  notifies(): LampState[] {
    const seen = new Set<string>()
    const out: LampState[] = []
    for (const m of this.messages()) {
      if (m.direction !== 'received' || m.method !== 'NOTIFY') continue
      const key = m.header('cseq')
      if (seen.has(key)) continue
      seen.add(key)
      out.push({ time: m.time, ...parseDialogInfo(m.body), subscriptionState: m.header('subscription-state'), message: m })
    }
    return out
  }

  /** The resource-list NOTIFYs received (retransmissions once), in order. */
  lists(): ListState[] {
    const seen = new Set<string>()
    const out: ListState[] = []
    for (const m of this.messages()) {
      if (m.direction !== 'received' || m.method !== 'NOTIFY') continue
      const key = m.header('cseq')
      if (seen.has(key)) continue
      seen.add(key)
      out.push({ time: m.time, subscriptionState: m.header('subscription-state'), require: m.header('require'), message: m, ...parseResourceList(m.header('content-type'), m.body) })
    }
    return out
  }

  /** Resolves with the first list NOTIFY (received after `after`) that passes `test`. */
  async waitForList(test: (state: ListState) => boolean, timeoutMs: number, what: string, after = 0): Promise<ListState> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.lists().find((s) => s.time >= after && test(s))
      if (found !== undefined) return found
      if (Date.now() > deadline) throw new Error(`lamp list: no NOTIFY ${what} within ${timeoutMs} ms; got: ${JSON.stringify(this.lists().map((s) => ({ v: s.version, full: s.fullState, sub: s.subscriptionState, resources: s.resources.map((r) => `${r.uri} ${r.dialogInfo?.dialogs.map((d) => d.state).join(',') ?? '-'}`) })))}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }

  /** The latest NOTIFY's state, if any. */
  latest(): LampState | undefined {
    return this.notifies().at(-1)
  }

  /** Resolves with the first NOTIFY (received after `after` ms since the epoch) whose state passes `test`. */
  async waitForState(test: (state: LampState) => boolean, timeoutMs: number, what: string, after = 0): Promise<LampState> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.notifies().find((s) => s.time >= after && test(s))
      if (found !== undefined) return found
      if (Date.now() > deadline) throw new Error(`lamp: no NOTIFY ${what} within ${timeoutMs} ms; got: ${JSON.stringify(this.notifies().map((s) => ({ v: s.version, sub: s.subscriptionState, dialogs: s.dialogs.map((d) => `${d.state} ${d.direction} ${d.callId}`) })))}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }

  /** Resolves with the final SUBSCRIBE answer (waits up to `timeoutMs`). */
  async waitForAnswer(timeoutMs = 5_000): Promise<SippTraceEntry> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.answer()
      if (found !== undefined) return found
      if (Date.now() > deadline) throw new Error(`lamp: no answer to the SUBSCRIBE within ${timeoutMs} ms; got: ${this.messages().map((m) => m.text.split('\n')[0]).join(' | ')}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }

  async stop(): Promise<void> {
    if (this.#child.running) await this.#child.kill()
  }
}

/** The subscriber's scenario (see the file comment). */
function subscriberScenario(options: LampOptions): string {
  const subscribe = (cseq: number, auth: boolean, inDialog: boolean, expires: string) => `
  <send retrans="500">
    <![CDATA[
      SUBSCRIBE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[device]@[domain]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[service]@[domain]>${inDialog ? ';tag=[$totag]' : ''}
      Call-ID: [call_id]
      CSeq: ${cseq} SUBSCRIBE
      Contact: <sip:[device]@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      User-Agent: flexseat-test-phone
      Event: [event]
      [accept]
      [supported]
      ${expires}
      ${auth ? '[authentication]' : 'X-Test: lamp'}
      Content-Length: 0
    ]]>
  </send>`
  const ok = `
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>`
  const refusals = ['400', '403', '404', '406', '421', '423', '481', '489', '500', '503'].map((s) => `  <recv response="${s}" optional="true" next="done"/>`).join('\n')
  const refresh = options.refreshAfterMs
  const unsubscribe = options.unsubscribeAfterMs
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="phone-subscribe">
${subscribe(1, false, false, '[expires]')}
  <recv response="100" optional="true"/>
${refusals}
  <recv response="407" auth="true"/>
${subscribe(2, true, false, '[expires]')}
  <recv response="100" optional="true"/>
${refusals}
  <recv response="200">
    <action><ereg regexp=";tag=([^;> ]+)" search_in="hdr" header="To:" assign_to="junk,totag"/><log message="to-tag [$junk] [$totag]"/></action>
  </recv>
  <label id="watch"/>
  <recv request="NOTIFY"${refresh !== undefined ? ` timeout="${refresh}" ontimeout="refresh"` : unsubscribe !== undefined ? ` timeout="${unsubscribe}" ontimeout="unsubscribe"` : ''}/>
${ok}
  <nop next="watch"/>
  <label id="refresh"/>
${refresh === undefined ? '' : `${subscribe(3, false, true, '[expires]')}
  <recv response="200"/>
  <label id="watch2"/>
  <recv request="NOTIFY"${unsubscribe === undefined ? '' : ` timeout="${unsubscribe}" ontimeout="unsubscribe"`}/>
${ok}
  <nop next="watch2"/>`}
  <label id="unsubscribe"/>
${unsubscribe === undefined ? '' : `${subscribe(4, false, true, 'Expires: 0')}
  <recv response="200" optional="true" next="final"/>
  <recv response="202"/>
  <label id="final"/>
  <recv request="NOTIFY"/>
${ok}`}
  <label id="done"/>
</scenario>
`
}

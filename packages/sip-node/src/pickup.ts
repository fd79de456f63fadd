/**
 * Directed call pickup: a phone takes a call that is ringing another phone, by pressing the busy
 * lamp of the extension it rings for. The phone sends an INVITE with a `Replaces` header naming
 * the ringing call (RFC 3891; the Call-ID and tags come from the lamp's dialog-info, busy-lamps.ts:
 * Yealink's "dialog info call pickup", Snom's and Poly's BLF pickup) or dials the pickup code
 * `**<extension>` (FreePBX's and Asterisk's default directed pickup code, which the phones' own
 * "directed pickup code" settings can name; Yealink's is blank by default).
 *
 * The node that carries the ringing call back to back (the node of the phone that rings) does the
 * pickup: it answers the caller and the picking phone, CANCELs the ringing phone, and relays the
 * two legs as one call (back-to-back-call.ts). The node does not carry media, and both the caller
 * and the picking phone made an SDP offer: each gets as its answer the other's offer restricted to
 * the formats both offered (RFC 3264 §6: an answer lists a subset of the offer's formats), so
 * media flows between them directly. A call that offers no audio format in common, or more than
 * one media line, is refused (488) and rings on.
 *
 * A phone of another branch reaches that node over the trunk: its own node finds the ringing desk
 * in the busy lamps' state (dialog-view.ts) and forwards the INVITE, `Replaces` and all.
 * @see RFC 3891 (Replaces; `early-only`), RFC 3264 §6 (answers)
 */

/** A parsed `Replaces` header. */
export interface ReplacesTarget {
  callId: string
  toTag: string
  fromTag: string
  earlyOnly: boolean
}

/** `Replaces: <call-id>;to-tag=..;from-tag=..[;early-only]`; undefined when malformed. @see RFC 3891 §6.1 */
export function parseReplaces(value: string): ReplacesTarget | undefined {
  const [callId, ...params] = value.split(';').map((part) => part.trim())
  if (callId === undefined || callId === '' || !/^[\x21-\x7e]{1,256}$/.test(callId)) return undefined
  const map = new Map(params.map((p) => [p.split('=')[0]!.toLowerCase(), p.includes('=') ? p.slice(p.indexOf('=') + 1) : '']))
  const toTag = map.get('to-tag')
  const fromTag = map.get('from-tag')
  if (toTag === undefined || fromTag === undefined) return undefined
  return { callId, toTag, fromTag, earlyOnly: map.has('early-only') }
}

/** The directed pickup code: `**` then the extension. */
export function parsePickupCode(user: string): string | undefined {
  return /^\*\*([0-9]{2,15})$/.exec(user)?.[1]
}

/**
 * The answer to `offer` made of `other` (the other party's offer): `other`'s session and its one
 * media line, with only the formats `offer` lists too (static payload types by number, dynamic
 * ones by encoding name and clock rate, numbered as in `offer`). Undefined when there is no
 * format in common or either side has more (or less) than one media line.
 */
export function answerFrom(offer: string, other: string): string | undefined {
  const o = parseSdp(offer)
  const p = parseSdp(other)
  if (o === undefined || p === undefined || o.media !== p.media) return undefined
  const kept: { pt: string; as: string }[] = []
  for (const pt of p.formats) {
    const name = p.rtpmap.get(pt)?.toLowerCase()
    const match = o.formats.find((q) => (Number(pt) < 96 && Number(q) < 96 ? q === pt : name !== undefined && o.rtpmap.get(q)?.toLowerCase() === name))
    if (match !== undefined && !kept.some((k) => k.as === match)) kept.push({ pt, as: match })
  }
  if (kept.length === 0) return undefined
  const lines: string[] = []
  for (const line of p.session) lines.push(line)
  lines.push(p.mline.replace(/^(m=\S+ \S+ \S+).*$/, `$1 ${kept.map((k) => k.as).join(' ')}`))
  for (const line of p.mediaLines) {
    const attr = /^a=(rtpmap|fmtp|rtcp-fb):(\d+)(.*)$/.exec(line)
    if (attr === null) {
      lines.push(line)
      continue
    }
    const k = kept.find((x) => x.pt === attr[2])
    if (k !== undefined) lines.push(`a=${attr[1]}:${k.as}${attr[3]}`)
  }
  return `${lines.join('\r\n')}\r\n`
}

interface ParsedSdp {
  session: string[]
  mline: string
  media: string
  formats: string[]
  rtpmap: Map<string, string>
  mediaLines: string[]
}

function parseSdp(sdp: string): ParsedSdp | undefined {
  const lines = sdp.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '')
  const m = lines.filter((l) => l.startsWith('m='))
  if (m.length !== 1) return undefined
  const at = lines.indexOf(m[0]!)
  const parts = m[0]!.split(' ')
  if (parts.length < 4) return undefined
  const mediaLines = lines.slice(at + 1)
  const rtpmap = new Map<string, string>()
  for (const line of mediaLines) {
    const r = /^a=rtpmap:(\d+) (\S+)/.exec(line)
    if (r !== null) rtpmap.set(r[1]!, r[2]!)
  }
  return { session: lines.slice(0, at), mline: m[0]!, media: parts[0]!.slice(2), formats: parts.slice(3), rtpmap, mediaLines }
}

/** A call ringing a phone of this node that a pickup can take (back-to-back-call.ts). */
export interface PickableCall {
  readonly callId: string
  /**
   * Takes the call for the phone that sent `req`: answers both, CANCELs the ringing phone, relays
   * the legs; resolves false (having answered `req` with 488/481) when it cannot.
   */
  pickUp(req: import('./srf-adapter').SrfRequest, res: import('./srf-adapter').SrfResponse, desk: { siteId: string; deviceId: string } | undefined): Promise<boolean>
}

/** The calls ringing phones of this node, by Call-ID. */
export class PickableCalls {
  readonly #calls = new Map<string, PickableCall>()

  add(call: PickableCall): () => void {
    this.#calls.set(call.callId, call)
    return () => {
      if (this.#calls.get(call.callId) === call) this.#calls.delete(call.callId)
    }
  }

  get(callId: string): PickableCall | undefined {
    return this.#calls.get(callId)
  }

  get size(): number {
    return this.#calls.size
  }
}

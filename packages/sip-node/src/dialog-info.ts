/**
 * The body of a busy lamp's NOTIFY: an RFC 4235 dialog-info document (`application/dialog-info+xml`),
 * always with the full state (the lamp's extension's dialogs in progress; none: idle). Each
 * dialog names its Call-ID and the caller's From tag (`remote-tag` for a call the watched party
 * receives, `local-tag` for one it places), so that a phone's directed pickup can name the call
 * (RFC 3891 `Replaces`), and, where allowed, the other party's identity.
 * @see RFC 4235 §4.1 (the XML format), §3.7.1 (states)
 */
import { createHash } from 'node:crypto'

/**
 * The stand-in for the tag a dialog-info cannot know (the other leg's: the ringing phone's To tag
 * lives at the node that rings it): a token derived from the Call-ID. Phones copy both tags into
 * `Replaces`; the node matches a pickup by Call-ID (pickup.ts), and an empty tag is refused by
 * some SIP stacks (drachtio-server answers 400).
 */
export function standInTag(callId: string): string {
  return `fs${createHash('sha256').update(callId).digest('hex').slice(0, 12)}`
}

/** One dialog of the watched extension, as the lamp shows it. */
export interface LampDialog {
  callId: string
  state: 'early' | 'confirmed'
  /** `recipient`: the extension is called; `initiator`: it calls. */
  direction: 'initiator' | 'recipient'
  /** The caller's From tag ('' unknown). */
  callerTag: string
  /** The other party (absent: withheld). */
  other?: { number: string; name: string }
}

/** An RFC 4235 document: `entity` (a SIP URI) and its `dialogs`, at `version`. */
export function dialogInfo(entity: string, version: number, dialogs: readonly LampDialog[], domain: string): string {
  const lines = [`<?xml version="1.0" encoding="UTF-8"?>`, `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="${version}" state="full" entity="${xml(entity)}">`]
  for (const d of dialogs) {
    const caller = d.callerTag === '' ? standInTag(`caller ${d.callId}`) : d.callerTag
    const other = standInTag(d.callId)
    const tag = d.direction === 'recipient' ? ` local-tag="${xml(other)}" remote-tag="${xml(caller)}"` : ` local-tag="${xml(caller)}" remote-tag="${xml(other)}"`
    lines.push(`  <dialog id="${xml(dialogId(d))}" call-id="${xml(d.callId)}"${tag} direction="${d.direction}">`)
    lines.push(`    <state>${d.state}</state>`)
    lines.push(`    <local><identity>${xml(entity)}</identity></local>`)
    if (d.other !== undefined && d.other.number !== '') {
      const uri = `sip:${encodeURIComponent(d.other.number)}@${domain}`
      const display = d.other.name === '' ? '' : ` display="${xml(d.other.name)}"`
      lines.push(`    <remote><identity${display}>${xml(uri)}</identity><target uri="${xml(uri)}"/></remote>`)
    }
    lines.push('  </dialog>')
  }
  lines.push('</dialog-info>', '')
  return lines.join('\r\n')
}

/** A dialog's `id`: unique within the document (a call can be seen from both ends on one lamp only in theory). */
function dialogId(d: LampDialog): string {
  return `${d.direction === 'recipient' ? 'in' : 'out'}-${d.callId}`
}

function xml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string)
}

/**
 * The softkey sign-in (BroadWorks Flexible Seating's GuestIn / GuestOut): the Login key of an
 * idle flex desk opens `guest-in` (extension and PIN, then the same Login as `*51*ext*PIN`: the
 * same lockout, the same texts as the feature code's MESSAGE), the Logout key of a seated one
 * opens `guest-out` (signs out whoever sits there, as `*51` alone). The seat records `via`
 * SOFTKEY (the registry knows the provisioning service's role). The PIN arrives only in the
 * request to this service, goes on only in the Login call, and is never logged.
 */
import { randomUUID } from 'node:crypto'
import { featureReply, LOGIN_DEADLINE_MS } from '@flexseat/sip-node'
import type { Page } from './pages'
import type { AppRequest, XmlApp } from './xml-app'

const EXTENSION = /^[0-9]{2,15}$/
const PIN = /^[0-9]{4,12}$/
const SIGN_IN = 'Sign in'
const SIGN_OUT = 'Sign out'

function text(title: string, body: string): Page {
  return { kind: 'text', title, text: body }
}

/** The text of a feature reply: its MESSAGE, or the reason phrase where there is none (503). */
function replyText(reply: { message: string | undefined; reason: string }): string {
  return reply.message ?? reply.reason
}

export const guestIn: XmlApp = {
  name: 'guest-in',
  async handle(request: AppRequest): Promise<Page> {
    const { params, vendor } = request
    if (request.step === undefined) {
      // Snom's minibrowser takes one input per page: the extension first, then the PIN.
      if (vendor === 'snom') {
        const ext = params['ext']
        if (ext === undefined || !EXTENSION.test(ext)) return { kind: 'input', title: SIGN_IN, submit: request.url('guest-in'), fields: [{ name: 'ext', prompt: 'Extension', secret: false }] }
        return { kind: 'input', title: SIGN_IN, submit: request.url('guest-in', 'submit', { ext }), fields: [{ name: 'pin', prompt: 'PIN', secret: true }] }
      }
      return {
        kind: 'input',
        title: SIGN_IN,
        submit: request.url('guest-in', 'submit'),
        fields: [
          { name: 'ext', prompt: 'Extension', secret: false },
          { name: 'pin', prompt: 'PIN', secret: true },
        ],
      }
    }
    if (request.step !== 'submit') return text(SIGN_IN, 'Unknown page')
    const ext = params['ext'] ?? ''
    const pin = params['pin'] ?? ''
    if (!EXTENSION.test(ext) || !PIN.test(pin)) return text(SIGN_IN, 'Enter your extension and PIN (digits)')
    try {
      const res = await request.registry.login({ requestId: `softkey-${randomUUID()}`, deviceId: request.device.id, extension: ext, pin, durationHours: 0 }, LOGIN_DEADLINE_MS)
      const seat = res.seat
      request.logger.info({ device: request.device.id, user: seat?.userId, epoch: seat?.epoch, pending: (seat?.pending.length ?? 0) > 0 }, 'softkey sign-in')
      return text(SIGN_IN, replyText(featureReply({ kind: 'signed-in', extension: seat?.extension ?? ext, displayName: seat?.displayName ?? '' }, request.featureCodes)))
    } catch (error) {
      const reply = featureReply({ kind: 'failed', error, extension: ext }, request.featureCodes)
      request.logger.info({ device: request.device.id, status: reply.status, reason: reply.reason }, 'softkey sign-in refused')
      return text(SIGN_IN, replyText(reply))
    }
  },
}

export const guestOut: XmlApp = {
  name: 'guest-out',
  async handle(request: AppRequest): Promise<Page> {
    try {
      const res = await request.registry.logout({ requestId: `softkey-${randomUUID()}`, target: { $case: 'deviceId', value: request.device.id }, reason: 0 })
      const released = res.released
      request.logger.info({ device: request.device.id, user: released?.userId }, 'softkey sign-out')
      return text(SIGN_OUT, replyText(featureReply(released === undefined ? { kind: 'nobody-seated' } : { kind: 'signed-out', extension: released.extension }, request.featureCodes)))
    } catch (error) {
      return text(SIGN_OUT, replyText(featureReply({ kind: 'failed', error }, request.featureCodes)))
    }
  },
}

/** The applications of this package: the softkey sign-in and sign-out. */
export const SOFTKEY_APPS: readonly XmlApp[] = [guestIn, guestOut]

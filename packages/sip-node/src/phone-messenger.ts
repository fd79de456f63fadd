/**
 * Text for a phone's display: a SIP MESSAGE (RFC 3428, `text/plain`) to the device's current
 * binding; and the `check-sync` NOTIFY that makes it fetch its provisioning file again
 * (check-sync.ts). Best effort by design: a phone that is not registered is skipped, a failure is
 * logged, and nothing is ever thrown at the caller (a seat change or a feature code must not fail
 * because a display could not be updated).
 *
 * Each request sent is a span (`sip.message`, `sip.notify`; kind client) in the active context:
 * a feature code's reply text is a child of the INVITE's span, a revoked seat's text a child of
 * the old branch's `seat.revocation_apply` span (seat-notifier.ts). It ends with the phone's
 * final response (`sip.status`), or with the error (status error) when none came.
 */
import type { PhoneVendor } from '@flexseat/proto'
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import type { Logger } from 'pino'
import { checkSyncEvent } from './check-sync'
import type { SrfApp, SrfResponseMessage } from './srf-adapter'

/** Options of {@link PhoneMessenger}. */
export interface PhoneMessengerOptions {
  srf: Pick<SrfApp, 'request'>
  /** The site's SIP domain (From and To). */
  domain: string
  binding: (deviceId: string) => { contact: string } | undefined
  logger: Logger
  /** The same text to the same device within this many ms is sent once (default 3 000). */
  dedupeMs?: number
  /** Clock in ms (default Date.now). */
  now?: () => number
}

/**
 * Sends MESSAGEs to the branch's phones. The same text to the same device within a few seconds
 * goes out once: a sign-in at the phone is announced both by the feature-code reply and by the
 * seat change it causes, and the phone should show it once.
 */
export class PhoneMessenger {
  readonly #o: PhoneMessengerOptions
  readonly #recent = new Map<string, { text: string; at: number }>()

  constructor(options: PhoneMessengerOptions) {
    this.#o = options
  }

  /** Sends `text` to the device; resolves when the phone answered (or it was skipped/failed). Never rejects. */
  send(deviceId: string, text: string): Promise<void> {
    const now = (this.#o.now ?? Date.now)()
    const last = this.#recent.get(deviceId)
    if (last !== undefined && last.text === text && now - last.at < (this.#o.dedupeMs ?? 3_000)) return Promise.resolve()
    const binding = this.#o.binding(deviceId)
    if (binding === undefined) {
      this.#o.logger.debug({ device: deviceId }, 'message skipped: phone not registered')
      return Promise.resolve()
    }
    this.#recent.set(deviceId, { text, at: now })
    const domain = this.#o.domain
    return this.#request(deviceId, binding.contact, 'message', {
      method: 'MESSAGE',
      headers: { From: `"flexseat" <sip:flexseat@${domain}>`, To: `<sip:${deviceId}@${domain}>`, 'Content-Type': 'text/plain' },
      body: text,
    })
  }

  /**
   * Sends the device a `check-sync` NOTIFY in the variant of its `vendor` (check-sync.ts), so it
   * fetches its provisioning file again; resolves when the phone answered (or it was
   * skipped/failed). Never rejects. Logs `check-sync sent` {device, event, status}.
   */
  checkSync(deviceId: string, vendor: PhoneVendor | undefined): Promise<void> {
    const binding = this.#o.binding(deviceId)
    if (binding === undefined) {
      this.#o.logger.debug({ device: deviceId }, 'check-sync skipped: phone not registered')
      return Promise.resolve()
    }
    const domain = this.#o.domain
    const event = checkSyncEvent(vendor)
    return this.#request(deviceId, binding.contact, 'check-sync', {
      method: 'NOTIFY',
      // An unsolicited NOTIFY: no subscription precedes it, so it states that none lasts.
      headers: { From: `"flexseat" <sip:flexseat@${domain}>`, To: `<sip:${deviceId}@${domain}>`, Event: event, 'Subscription-State': 'terminated' },
      body: '',
    }, event)
  }

  #request(deviceId: string, contact: string, what: 'message' | 'check-sync', request: { method: string; headers: Record<string, string>; body: string }, event?: string): Promise<void> {
    const span = trace.getTracer('@flexseat/sip-node').startSpan(`sip.${request.method.toLowerCase()}`, {
      kind: SpanKind.CLIENT,
      attributes: { 'sip.method': request.method, 'flexseat.device': deviceId, ...(event === undefined ? {} : { 'sip.event': event }) },
    })
    return new Promise<void>((done) => {
      // A transaction that never ends (engine connection lost mid-way) must not hold the caller.
      const timer = setTimeout(() => resolve(undefined, 'no final response'), 40_000)
      timer.unref()
      let ended = false
      const resolve = (status?: number, failure?: string): void => {
        clearTimeout(timer)
        if (!ended) {
          ended = true
          if (status !== undefined) span.setAttribute('sip.status', status)
          if (failure !== undefined || (status !== undefined && status >= 300)) span.setStatus({ code: SpanStatusCode.ERROR, message: failure ?? `${status}` })
          span.end()
        }
        done()
      }
      try {
        this.#o.srf.request(contact, request, (error, sent) => {
          if (error) {
            this.#o.logger.warn({ device: deviceId, err: error }, `${what} not sent`)
            return resolve(undefined, 'not sent')
          }
          if (event !== undefined) this.#o.logger.info({ device: deviceId, event }, 'check-sync sent')
          sent.on('response', (response: SrfResponseMessage) => {
            if (response.status >= 300) this.#o.logger.info({ device: deviceId, status: response.status }, `${what} refused by the phone`)
            else this.#o.logger.debug({ device: deviceId, status: response.status }, `${what} delivered`)
            if (response.status >= 200) resolve(response.status)
          })
        })
      } catch (error) {
        // drachtio-srf throws synchronously while the engine connection is down.
        this.#o.logger.warn({ device: deviceId, err: error }, `${what} not sent`)
        resolve(undefined, 'not sent')
      }
    })
  }
}

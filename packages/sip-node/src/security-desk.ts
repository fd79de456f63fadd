/**
 * Kari's Law's notification: whenever an emergency number is dialled at one of this branch's
 * phones, the branch's security desk (sites/<id>.yaml `emergency.security_desk`) gets a SIP
 * MESSAGE (RFC 3428, `text/plain`, `Priority: emergency`) saying that a call was placed, from
 * which desk, where (the dispatchable location) and by whom, as the call is routed, whether or not
 * the carrier takes it.
 *
 * The desk is an extension or a SIP URI. An extension is a phone of this branch (its binding), or
 * a worker seated actively at one (the phone they sit at); a SIP URI is sent to as it is (a
 * console, a gateway, another branch's phone through its carrier). Best effort like every MESSAGE
 * to a display: failures are logged (`security desk not told`), never thrown at the call.
 */
import type { EmergencyConfig } from '@flexseat/config'
import type { Device, Seat } from '@flexseat/proto'
import type { Logger } from 'pino'
import { isActive } from './seat-view'
import type { SrfApp, SrfResponseMessage } from './srf-adapter'

/** Options of {@link SecurityDesk}. */
export interface SecurityDeskOptions {
  srf: Pick<SrfApp, 'request'>
  siteId: string
  /** The site's SIP domain (From, and To for an extension). */
  domain: string
  config: EmergencyConfig | undefined
  seats: { byExtension(extension: string): Seat | undefined }
  lease: { readonly active: boolean }
  directory: { deviceByExtension(extension: string): Promise<Device | undefined> }
  binding: (deviceId: string) => { contact: string } | undefined
  logger: Logger
}

/** See the file comment. */
export class SecurityDesk {
  readonly #o: SecurityDeskOptions

  constructor(options: SecurityDeskOptions) {
    this.#o = options
  }

  /** Whether a security desk is configured. */
  get configured(): boolean {
    return (this.#o.config?.securityDesk ?? '') !== ''
  }

  /** Sends `text` to the security desk; resolves when it answered, was skipped or failed. Never rejects. */
  async alert(text: string): Promise<void> {
    const desk = this.#o.config?.securityDesk ?? ''
    if (desk === '') return
    try {
      const target = await this.#target(desk)
      if (target === undefined) {
        this.#o.logger.warn({ securityDesk: desk }, 'security desk not told: no phone registered for it at this branch')
        return
      }
      await this.#send(target.uri, target.to, text)
    } catch (error) {
      this.#o.logger.warn({ securityDesk: desk, err: error }, 'security desk not told')
    }
  }

  async #target(desk: string): Promise<{ uri: string; to: string } | undefined> {
    const { domain } = this.#o
    if (/^sips?:/i.test(desk)) return { uri: desk, to: `<${desk}>` }
    const to = `<sip:${desk}@${domain}>`
    const device = await this.#o.directory.deviceByExtension(desk)
    if (device !== undefined && device.siteId === this.#o.siteId) {
      const binding = this.#o.binding(device.id)
      if (binding !== undefined) return { uri: binding.contact, to }
    }
    const seat = this.#o.seats.byExtension(desk)
    if (seat !== undefined && isActive(seat) && seat.siteId === this.#o.siteId && this.#o.lease.active) {
      const binding = this.#o.binding(seat.deviceId)
      if (binding !== undefined) return { uri: binding.contact, to }
    }
    return undefined
  }

  #send(uri: string, to: string, text: string): Promise<void> {
    const { domain, logger } = this.#o
    return new Promise<void>((done) => {
      const timer = setTimeout(() => done(), 40_000)
      timer.unref()
      const resolve = (): void => {
        clearTimeout(timer)
        done()
      }
      try {
        this.#o.srf.request(
          uri,
          { method: 'MESSAGE', headers: { From: `"flexseat emergency" <sip:flexseat@${domain}>`, To: to, 'Content-Type': 'text/plain', Priority: 'emergency' }, body: text },
          (error, request) => {
            if (error) {
              logger.warn({ err: error, uri }, 'security desk not told')
              return resolve()
            }
            request.on('response', (response: SrfResponseMessage) => {
              if (response.status >= 300) logger.warn({ uri, status: response.status }, 'security desk refused the emergency message')
              else if (response.status >= 200) logger.info({ uri, status: response.status }, 'security desk told of an emergency call')
              if (response.status >= 200) resolve()
            })
          },
        )
      } catch (error) {
        logger.warn({ err: error, uri }, 'security desk not told')
        resolve()
      }
    })
  }
}

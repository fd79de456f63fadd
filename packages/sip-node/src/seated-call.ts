/**
 * A call that rings a phone because a worker is seated there (the worker's extension, dialled at
 * this branch or arriving over the trunk), carried as a back-to-back user agent rather than
 * proxied: the node must be able to stop the ringing itself when the worker leaves the phone or
 * the branch loses its lease (invariant 4), and a proxy cannot be cancelled by the application.
 *
 * The B leg carries what the proxy carried: the caller's From (new tag) and To, the same
 * Call-ID, Max-Forwards less one, the caller's P-Asserted-Identity unless the router set one, the
 * router's headers, and the caller's body (SDP passthrough both ways). The caller gets the
 * phone's provisional and final responses; a CANCEL from the caller cancels the phone's leg.
 * Once answered, BYE, re-INVITE and INFO are relayed between the legs. While ringing, the call
 * sits in {@link RingingCalls}; stopping it there answers the caller (e.g. `480 1001 signed in
 * elsewhere`) and CANCELs the phone's leg. A phone that rings {@link RING_TIMEOUT_MS} without
 * answering is CANCELled as a proxy's Timer C would (the caller gets 408).
 *
 * @see RFC 3261 §9.1 (CANCEL), §16.6 bullet 11 (Timer C); drachtio-srf lib/srf.js `createB2BUA`
 */
import type { Logger } from 'pino'
import type { RingingCalls } from './ringing-calls'
import { ringingStopResponse } from './ringing-calls'
import type { SipHeaders, SrfApp, SrfDialog, SrfRequest, SrfResponse, SrfSipError } from './srf-adapter'

/** How long a phone may ring for a worker before the node gives up (a proxy's Timer C: 3 min). */
export const RING_TIMEOUT_MS = 180_000

/** Headers of the caller's INVITE that the B leg carries unchanged (besides From, To, Call-ID). */
const CARRIED_HEADERS = ['P-Asserted-Identity', 'Content-Type'] as const

/** The worker a call rings for. */
export interface RungSeat {
  userId: string
  extension: string
  deviceId: string
}

/** Options of {@link SeatedCall.start}. */
export interface SeatedCallOptions {
  srf: SrfApp
  req: SrfRequest
  res: SrfResponse
  seat: RungSeat
  /** The phone's binding (Request-URI of the B leg). */
  destination: string
  /** Headers the router decided on (they win over the carried ones). */
  headers: SipHeaders
  ringing: RingingCalls
  logger: Logger
  /** Default {@link RING_TIMEOUT_MS}. */
  ringTimeoutMs?: number
}

/**
 * The headers of the B leg's INVITE (see the file comment): `From` without the caller's tag (the
 * engine adds its own), `To`, `Call-ID`, `Max-Forwards` less one, the carried headers, then
 * `routed` (where a header set to '' is one the router wants gone).
 */
export function bLegHeaders(req: SrfRequest, routed: SipHeaders): SipHeaders {
  const headers: SipHeaders = {
    From: (req.get('From') ?? '').replace(/;\s*tag=[^;\s]*/i, ''),
    To: req.get('To') ?? '',
    'Call-ID': req.get('Call-ID') ?? '',
  }
  const maxForwards = Number.parseInt(req.has('Max-Forwards') ? req.get('Max-Forwards') : '70', 10)
  headers['Max-Forwards'] = String(Number.isFinite(maxForwards) ? Math.max(0, maxForwards - 1) : 69)
  for (const name of CARRIED_HEADERS) if (req.has(name)) headers[name] = req.get(name)
  // An empty value is the router's "remove this header" (a proxy can only set headers): the B
  // leg is built afresh and never carries the caller's other headers, so it is simply left out.
  for (const [name, value] of Object.entries(routed)) {
    if (value === '') delete headers[name]
    else headers[name] = value
  }
  return headers
}

/**
 * One call to a seated worker's phone (see the file comment). State: `ringing` → `answered`
 * (both legs up until either side hangs up) or `ended` (failed, cancelled by the caller, or
 * stopped by the node).
 */
export class SeatedCall {
  readonly #o: SeatedCallOptions
  readonly #logger: Logger
  #state: 'ringing' | 'answered' | 'ended' = 'ringing'
  /** The B leg's INVITE, once the engine sent it. */
  #uacRequest: SrfRequest | undefined
  /** A CANCEL is due as soon as {@link #uacRequest} exists (stopped or cancelled before it did). */
  #cancelDue = false
  #cancelSent = false
  #cancelled: Promise<void> | undefined
  #settleCancel: () => void = () => undefined
  #unregister: () => void = () => undefined
  #ringTimer: NodeJS.Timeout | undefined

  private constructor(options: SeatedCallOptions) {
    this.#o = options
    this.#logger = options.logger.child({ user: options.seat.userId, device: options.seat.deviceId })
  }

  /** Starts ringing the phone (the B leg) and registers the call in `options.ringing`. */
  static start(options: SeatedCallOptions): SeatedCall {
    const call = new SeatedCall(options)
    call.#run()
    return call
  }

  /** See the class comment. */
  get state(): 'ringing' | 'answered' | 'ended' {
    return this.#state
  }

  #run(): void {
    const { srf, req, res, seat, destination, ringing } = this.#o
    this.#unregister = ringing.add({
      userId: seat.userId,
      extension: seat.extension,
      deviceId: seat.deviceId,
      callId: req.get('Call-ID'),
      stop: (status, reason) => this.#stop(status, reason),
    })
    // drachtio-srf's createB2BUA cancels the B leg on the caller's CANCEL only once the B leg's
    // INVITE was sent; a CANCEL that comes earlier is carried over here.
    req.on('cancel', () => {
      if (this.#uacRequest === undefined) this.#cancelDue = true
      this.#end()
    })
    this.#ringTimer = setTimeout(() => {
      this.#logger.info({ ringTimeoutMs: this.#o.ringTimeoutMs ?? RING_TIMEOUT_MS }, 'worker call not answered in time')
      const { status, reason } = ringingStopResponse(seat.extension, 'timeout')
      void this.#stop(status, reason)
    }, this.#o.ringTimeoutMs ?? RING_TIMEOUT_MS)
    this.#ringTimer.unref()

    srf
      .createB2BUA(req, res, destination, { localSdpB: req.body, headers: bLegHeaders(req, this.#o.headers) }, {
        cbRequest: (error, uacRequest) => {
          if (error !== null) return this.#settleCancel()
          this.#uacRequest = uacRequest
          if (this.#cancelDue) this.#cancel()
        },
        // Answered by the phone: from here on it is the phone's call, no longer "ringing for the
        // worker" (the caller's 200 follows at once).
        cbFinalizedUac: () => {
          if (this.#state === 'ringing') this.#state = 'answered'
          this.#unregisterNow()
        },
      })
      .then(
        ({ uas, uac }) => {
          this.#logger.info('worker call answered')
          relay(uas, uac, this.#logger)
        },
        (error: SrfSipError) => {
          this.#end()
          if (this.#uacRequest === undefined) this.#settleCancel()
          this.#logger.info({ status: error.status, reason: error.reason ?? error.message, answeredCaller: res.finalResponseSent }, 'worker call ended unanswered')
        },
      )
  }

  /**
   * Stops the ringing: the caller gets `status`/`reason` at once, the phone's leg a CANCEL (as
   * soon as its INVITE is out). Resolves once the engine took the CANCEL, or at once when there
   * is none to send.
   */
  #stop(status: number, reason: string): Promise<void> {
    if (this.#state !== 'ringing') return Promise.resolve()
    const { res } = this.#o
    this.#logger.info({ status, reason }, 'worker call stopped while ringing')
    if (!res.finalResponseSent) res.send(status, reason)
    this.#cancelDue = true
    this.#cancelled ??= new Promise<void>((resolve) => (this.#settleCancel = resolve))
    const cancelled = this.#cancelled
    this.#end()
    if (this.#uacRequest !== undefined) this.#cancel()
    return cancelled
  }

  #cancel(): void {
    if (this.#cancelSent || this.#uacRequest === undefined) return
    this.#cancelSent = true
    try {
      this.#uacRequest.cancel({}, (error) => {
        if (error !== null && error !== undefined) this.#logger.warn({ err: error }, 'CANCEL of the phone leg failed')
        this.#settleCancel()
      })
    } catch (error) {
      this.#logger.warn({ err: error }, 'CANCEL of the phone leg failed')
      this.#settleCancel()
    }
  }

  #end(): void {
    if (this.#state === 'ringing') this.#state = 'ended'
    this.#unregisterNow()
  }

  #unregisterNow(): void {
    clearTimeout(this.#ringTimer)
    this.#unregister()
  }
}

/**
 * Relays in-dialog requests between the legs of an answered call: a BYE on one ends the other; a
 * re-INVITE is offered to the other leg and answered with that leg's answer; INFO (e.g. DTMF)
 * passes through with its body.
 */
function relay(uas: SrfDialog, uac: SrfDialog, logger: Logger): void {
  const hangUp = (other: SrfDialog) => (): void => {
    other.destroy().catch((error: unknown) => logger.debug({ err: error }, 'BYE to the other leg failed'))
  }
  uas.on('destroy', hangUp(uac))
  uac.on('destroy', hangUp(uas))
  for (const [from, to] of [
    [uas, uac],
    [uac, uas],
  ] as const) {
    from.on('modify', (req, res) => {
      if (req.body === '') {
        // An offerless re-INVITE (a session refresh): answered with this leg's current SDP.
        res.send(200, { body: from.local.sdp, headers: { 'Content-Type': 'application/sdp' } })
        return
      }
      to.modify(req.body).then(
        (answer) => {
          const sdp = typeof answer === 'string' ? answer : to.remote.sdp
          from.local.sdp = sdp
          res.send(200, { body: sdp, headers: { 'Content-Type': 'application/sdp' } })
        },
        (error: SrfSipError) => res.send(error.status ?? 500, error.reason ?? ''),
      )
    })
    from.on('info', (req, res) => {
      const headers: SipHeaders = req.has('Content-Type') ? { 'Content-Type': req.get('Content-Type') } : {}
      to.request({ method: 'INFO', headers, body: req.body }).then(
        (response) => res.send(response.status, response.reason),
        (error: SrfSipError) => res.send(error.status ?? 500, error.reason ?? ''),
      )
    })
  }
}

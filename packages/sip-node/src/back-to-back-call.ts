/**
 * A call the node carries back to back (a B2BUA) rather than proxies: every call from a phone, a
 * call that rings a phone because a worker is seated there, and a trunk call forwarded to another
 * branch.
 *
 * - From a phone: the B leg is built afresh, so what the phone put in its INVITE for this node
 *   stays here: its digest credentials (`Proxy-Authorization` for the branch's realm, checked
 *   and consumed by the node), its own identity claims (`P-Preferred-Identity`,
 *   `Remote-Party-ID`, a `P-Asserted-Identity` of its choosing) and anything else. A proxy
 *   cannot drop a header on drachtio-server (an application header is only ever added or
 *   replaced, and an empty value makes it send nothing at all), so a proxied call would hand the
 *   phone's credentials to every callee, carrier and branch on the way.
 * - For a seated worker (`seated`): the node must be able to stop the ringing itself when the
 *   worker leaves the phone or the branch loses its lease (invariant 4), and a proxy cannot be
 *   cancelled by the application. While ringing, the call sits in {@link RingingCalls}; stopping
 *   it there answers the caller (e.g. `480 1001 signed in elsewhere`) and CANCELs the phone's leg.
 *
 * The B leg carries the caller's From (new tag) and To, the same Call-ID (one call, one Call-ID
 * in every branch's logs; drachtio-server keeps the two legs apart by their From tags),
 * Max-Forwards less one, the caller's Content-Type and, unless the router set one, its
 * P-Asserted-Identity (a trunk call's, which the trunk signature covers), the router's headers,
 * and the caller's body (SDP passthrough both ways). The caller gets the B leg's provisional and
 * final responses; a CANCEL from the caller cancels the B leg. Once answered, BYE, re-INVITE and
 * INFO are relayed between the legs. A B leg that rings {@link RING_TIMEOUT_MS} without an answer
 * is CANCELled as a proxy's Timer C would (the caller gets 408).
 *
 * @see RFC 3261 §9.1 (CANCEL), §16.6 bullet 11 (Timer C), §22.3 (a proxy's own credentials);
 *   drachtio-srf lib/srf.js `createB2BUA`
 */
import type { Logger } from 'pino'
import { answerFrom, type PickableCalls } from './pickup'
import type { RingingCalls } from './ringing-calls'
import { ringingStopResponse } from './ringing-calls'
import { acceptDialog, type SipHeaders, type SrfApp, type SrfDialog, type SrfRequest, type SrfResponse, type SrfSipError } from './srf-adapter'

/** How long a B leg may ring before the node gives up (a proxy's Timer C: 3 min). */
export const RING_TIMEOUT_MS = 180_000

/**
 * Headers of the caller's INVITE that the B leg carries unchanged (besides From, To, Call-ID);
 * nothing else of the caller's request passes. A phone's P-Asserted-Identity never does: the
 * router sets the node's own on every call from a phone.
 */
const CARRIED_HEADERS = ['P-Asserted-Identity', 'Content-Type'] as const

/** The worker a call rings for. */
export interface RungSeat {
  userId: string
  extension: string
  deviceId: string
}

/** Told how a call went (the call list, call-log.ts): at most once each. */
export interface CallOutcomeListener {
  /** The callee answered. */
  answered(): void
  /** The call ended: after being answered (a BYE from either side), or without (failed, cancelled, stopped). */
  ended(answered: boolean): void
}

/** Options of {@link BackToBackCall.start}. */
export interface BackToBackCallOptions {
  srf: SrfApp
  req: SrfRequest
  res: SrfResponse
  /** The B leg's Request-URI (a phone's binding, the carrier, another branch's trunk). */
  destination: string
  /** Headers the router decided on (they win over the carried ones; '' leaves one out). */
  headers: SipHeaders
  logger: Logger
  /**
   * The worker the call rings for: the call sits in `ringing` while it rings, so that the node
   * can stop it when the seat leaves the phone.
   */
  seated?: { seat: RungSeat; ringing: RingingCalls }
  /** Default {@link RING_TIMEOUT_MS}. */
  ringTimeoutMs?: number
  /**
   * The B leg's body and Content-Type instead of the caller's (an emergency call's multipart
   * body: the caller's SDP and the desk's location, emergency-location.ts).
   */
  body?: { content: string; contentType: string }
  outcome?: CallOutcomeListener
  /** The call rings a phone of this node: a directed pickup may take it while it rings (pickup.ts). */
  pickable?: PickableCalls
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
  // An empty value is the router's "no such header" (e.g. a trunk call without an identity).
  for (const [name, value] of Object.entries(routed)) {
    if (value === '') delete headers[name]
    else headers[name] = value
  }
  return headers
}

/**
 * One call carried back to back (see the file comment). State: `ringing` → `answered` (both legs
 * up until either side hangs up) or `ended` (failed, cancelled by the caller, or stopped by the
 * node).
 */
export class BackToBackCall {
  readonly #o: BackToBackCallOptions
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
  #ended = false
  /** Taken by a directed pickup: the B leg's failure (its CANCEL) is no longer the call's. */
  #picked = false
  #unpickable: () => void = () => undefined

  private constructor(options: BackToBackCallOptions) {
    this.#o = options
    const seat = options.seated?.seat
    this.#logger = seat === undefined ? options.logger : options.logger.child({ user: seat.userId, device: seat.deviceId })
  }

  /** Starts the B leg (and, for a seated worker, registers the call in its `ringing`). */
  static start(options: BackToBackCallOptions): BackToBackCall {
    const call = new BackToBackCall(options)
    call.#run()
    return call
  }

  /** See the class comment. */
  get state(): 'ringing' | 'answered' | 'ended' {
    return this.#state
  }

  #run(): void {
    const { srf, req, res, destination, seated } = this.#o
    const what = seated === undefined ? 'call' : 'worker call'
    if (seated !== undefined) {
      const { seat, ringing } = seated
      this.#unregister = ringing.add({
        userId: seat.userId,
        extension: seat.extension,
        deviceId: seat.deviceId,
        callId: req.get('Call-ID'),
        stop: (status, reason) => this.#stop(status, reason),
      })
    }
    if (this.#o.pickable !== undefined) this.#unpickable = this.#o.pickable.add({ callId: req.get('Call-ID'), pickUp: (preq, pres) => this.#pickUp(preq, pres) })
    // drachtio-srf's createB2BUA cancels the B leg on the caller's CANCEL only once the B leg's
    // INVITE was sent; a CANCEL that comes earlier is carried over here.
    req.on('cancel', () => {
      if (this.#uacRequest === undefined) this.#cancelDue = true
      this.#end()
    })
    this.#ringTimer = setTimeout(() => {
      this.#logger.info({ ringTimeoutMs: this.#o.ringTimeoutMs ?? RING_TIMEOUT_MS }, `${what} not answered in time`)
      const { status, reason } = seated === undefined ? { status: 408, reason: 'Request Timeout' } : ringingStopResponse(seated.seat.extension, 'timeout')
      void this.#stop(status, reason)
    }, this.#o.ringTimeoutMs ?? RING_TIMEOUT_MS)
    this.#ringTimer.unref()

    const { body } = this.#o
    const headers = bLegHeaders(req, body === undefined ? this.#o.headers : { ...this.#o.headers, 'Content-Type': body.contentType })
    srf
      .createB2BUA(req, res, destination, { localSdpB: body?.content ?? req.body, headers }, {
        cbRequest: (error, uacRequest) => {
          if (error !== null) return this.#settleCancel()
          this.#uacRequest = uacRequest
          if (this.#cancelDue) this.#cancel()
        },
        // Answered: from here on it is the callee's call, no longer "ringing for the worker"
        // (the caller's 200 follows at once).
        cbFinalizedUac: () => {
          if (this.#state === 'ringing') this.#state = 'answered'
          this.#unregisterNow()
          this.#o.outcome?.answered()
        },
      })
      .then(
        ({ uas, uac }) => {
          this.#logger.info(`${what} answered`)
          relay(uas, uac, this.#logger)
          uas.on('destroy', () => this.#finish(true))
          uac.on('destroy', () => this.#finish(true))
        },
        (error: SrfSipError) => {
          if (this.#picked) {
            this.#settleCancel()
            return
          }
          this.#end()
          this.#finish(this.#state === 'answered')
          if (this.#uacRequest === undefined) this.#settleCancel()
          this.#logger.info({ status: error.status, reason: error.reason ?? error.message, answeredCaller: res.finalResponseSent }, `${what} ended unanswered`)
        },
      )
  }

  /**
   * Stops the ringing: the caller gets `status`/`reason` at once, the B leg a CANCEL (as soon as
   * its INVITE is out). Resolves once the engine took the CANCEL, or at once when there
   * is none to send.
   */
  #stop(status: number, reason: string): Promise<void> {
    if (this.#state !== 'ringing') return Promise.resolve()
    const { res } = this.#o
    this.#logger.info({ status, reason }, `${this.#o.seated === undefined ? 'call' : 'worker call'} stopped while ringing`)
    if (!res.finalResponseSent) res.send(status, reason)
    this.#cancelDue = true
    this.#cancelled ??= new Promise<void>((resolve) => (this.#settleCancel = resolve))
    const cancelled = this.#cancelled
    this.#end()
    if (this.#uacRequest !== undefined) this.#cancel()
    return cancelled
  }

  /**
   * A directed pickup (pickup.ts): while the call rings, answers the caller and the picking phone
   * (each with the other's offer restricted to the formats in common), CANCELs the ringing phone
   * and relays the two as one call. Answers `preq` 481 when the call no longer rings, 488 when
   * the offers have no format in common (the call rings on).
   */
  async #pickUp(preq: SrfRequest, pres: SrfResponse): Promise<boolean> {
    const { srf, req, res } = this.#o
    if (this.#state !== 'ringing' || res.finalResponseSent) {
      pres.send(481, 'Call Does Not Exist')
      return false
    }
    const toCaller = answerFrom(req.body, preq.body)
    const toPicker = answerFrom(preq.body, req.body)
    if (toCaller === undefined || toPicker === undefined) {
      pres.send(488, 'Not Acceptable Here')
      return false
    }
    this.#picked = true
    this.#state = 'answered'
    this.#unregisterNow()
    let caller: SrfDialog
    try {
      caller = await acceptDialog(srf, req, res, { headers: { 'Content-Type': 'application/sdp' }, body: toCaller })
    } catch (error) {
      this.#logger.info({ err: error }, 'pickup failed: the caller is gone')
      pres.send(481, 'Call Does Not Exist')
      this.#cancelDue = true
      this.#cancel()
      this.#finish(false)
      return false
    }
    this.#cancelDue = true
    this.#cancel()
    this.#o.outcome?.answered()
    let picker: SrfDialog
    try {
      picker = await acceptDialog(srf, preq, pres, { headers: { 'Content-Type': 'application/sdp' }, body: toPicker })
    } catch (error) {
      this.#logger.info({ err: error }, 'pickup failed: the picking phone is gone')
      caller.destroy().catch(() => undefined)
      this.#finish(true)
      return false
    }
    this.#logger.info({ pickedBy: `${preq.source_address}:${preq.source_port}` }, 'call picked up')
    relay(caller, picker, this.#logger)
    caller.on('destroy', () => this.#finish(true))
    picker.on('destroy', () => this.#finish(true))
    return true
  }

  #cancel(): void {
    if (this.#cancelSent || this.#uacRequest === undefined) return
    this.#cancelSent = true
    try {
      this.#uacRequest.cancel({}, (error) => {
        if (error !== null && error !== undefined) this.#logger.warn({ err: error }, 'CANCEL of the B leg failed')
        this.#settleCancel()
      })
    } catch (error) {
      this.#logger.warn({ err: error }, 'CANCEL of the B leg failed')
      this.#settleCancel()
    }
  }

  /** Tells the outcome listener that the call ended (once). */
  #finish(answered: boolean): void {
    if (this.#ended) return
    this.#ended = true
    this.#o.outcome?.ended(answered)
  }

  #end(): void {
    if (this.#state === 'ringing') this.#state = 'ended'
    this.#unregisterNow()
  }

  #unregisterNow(): void {
    clearTimeout(this.#ringTimer)
    this.#unregister()
    this.#unpickable()
  }
}

/**
 * Relays in-dialog requests between the legs of an answered call: a BYE on one ends the other; a
 * re-INVITE is offered to the other leg and answered with that leg's answer; INFO (e.g. DTMF)
 * passes through with its body.
 */
export function relay(uas: SrfDialog, uac: SrfDialog, logger: Logger): void {
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

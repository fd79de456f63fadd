/**
 * A call that rings several phones at once, carried back to back (BroadWorks Flexible Seating's
 * "ring the guest's own phone and the host"): the desk a worker sits at and their home device.
 * One UAC leg per phone, sent together; the first to answer takes the call and the others are
 * CANCELled (a leg that answers in the same instant is hung up with a BYE); the caller hears one
 * ringing (the first 180, without early media: two phones cannot both send it).
 *
 * A leg that rings because a worker is seated there (`seat`) sits in {@link RingingCalls} while it
 * rings, like a {@link BackToBackCall}: a revocation CANCELs that leg only and the others go on
 * ringing (the home device is the worker's own phone, not a flex seat); the caller hears the
 * revocation's reason only when no other leg is left. A node shutting down ends the whole call.
 *
 * When every leg has failed, the caller gets the best final response (RFC 3261 §16.7 step 6, in
 * short): the lowest class; within it, an answer other than "nobody there" (480, 408, 487) wins,
 * else the first leg's. A call ringing {@link RING_TIMEOUT_MS} unanswered is cancelled with 408.
 *
 * @see RFC 3261 §16.7 (forking: choosing the best response, CANCEL of the other branches), §9.1
 */
import type { Logger } from 'pino'
import { bLegHeaders, type CallOutcomeListener, relay, RING_TIMEOUT_MS, type RungSeat } from './back-to-back-call'
import type { CallDesk, RouteTarget } from './call-router'
import type { RingingCalls, RingingStop } from './ringing-calls'
import type { SipHeaders, SrfApp, SrfDialog, SrfRequest, SrfResponse, SrfSipError } from './srf-adapter'

/** One phone the call rings. */
export interface ForkedLeg {
  target: RouteTarget
  destination: string
  /** Headers the router decided on for this leg ('' leaves one out). */
  headers: SipHeaders
  /** The worker this leg rings for (it is stopped when their seat leaves the phone). */
  seat?: RungSeat
  /** The leg's own Call-ID (default the caller's). */
  callId?: string
  desk: CallDesk
}

/** Options of {@link ForkedCall.start}. */
export interface ForkedCallOptions {
  srf: SrfApp
  req: SrfRequest
  res: SrfResponse
  legs: readonly ForkedLeg[]
  ringing: RingingCalls
  logger: Logger
  /** Default {@link RING_TIMEOUT_MS}. */
  ringTimeoutMs?: number
  /** Told when a leg answers (with its desk) and when the call ends. */
  outcome?: { answered(desk: CallDesk): void; ended: CallOutcomeListener['ended'] }
}

interface LegState {
  readonly leg: ForkedLeg
  /** The INVITE as the engine sent it (it can be CANCELled from then on). */
  request: SrfRequest | undefined
  cancelDue: boolean
  cancelSent: boolean
  /** Resolves once the engine took this leg's CANCEL (or there is none to send). */
  cancelled: Promise<void> | undefined
  settleCancel: () => void
  /** The final response, once the leg failed. */
  failed: { status: number; reason: string } | undefined
  /** Why the node stopped this leg (the caller hears it when no leg is left). */
  stopped: { status: number; reason: string } | undefined
  unregister: () => void
}

/** Responses that say nobody took the call there: a real answer (486 Busy) from another leg wins over them. */
const NOBODY = new Set([408, 480, 487])

/** See the file comment. State: `ringing` → `answered` or `ended`. */
export class ForkedCall {
  readonly #o: ForkedCallOptions
  readonly #legs: LegState[]
  #state: 'ringing' | 'answered' | 'ended' = 'ringing'
  #provisional = false
  #ringTimer: NodeJS.Timeout | undefined
  #ended = false

  private constructor(options: ForkedCallOptions) {
    this.#o = options
    this.#legs = options.legs.map((leg) => ({ leg, request: undefined, cancelDue: false, cancelSent: false, cancelled: undefined, settleCancel: () => undefined, failed: undefined, stopped: undefined, unregister: () => undefined }))
  }

  /** Sends every leg's INVITE. */
  static start(options: ForkedCallOptions): ForkedCall {
    const call = new ForkedCall(options)
    call.#run()
    return call
  }

  /** See the class comment. */
  get state(): 'ringing' | 'answered' | 'ended' {
    return this.#state
  }

  #run(): void {
    const { req, res, ringing, srf } = this.#o
    req.on('cancel', () => {
      if (this.#state !== 'ringing') return
      this.#o.logger.info('forked call cancelled by the caller')
      this.#state = 'ended'
      if (!res.finalResponseSent) res.send(487)
      this.#cancelAll()
      this.#finish(false)
    })
    const timeoutMs = this.#o.ringTimeoutMs ?? RING_TIMEOUT_MS
    this.#ringTimer = setTimeout(() => {
      this.#o.logger.info({ ringTimeoutMs: timeoutMs }, 'forked call not answered in time')
      this.#endAll(408, 'Request Timeout')
    }, timeoutMs)
    this.#ringTimer.unref()

    this.#legs.forEach((state, index) => {
      const { leg } = state
      if (leg.seat !== undefined) {
        const seat = leg.seat
        state.unregister = ringing.add({ userId: seat.userId, extension: seat.extension, deviceId: seat.deviceId, callId: req.get('Call-ID'), stop: (status, reason, why) => this.#stopLeg(index, status, reason, why) })
      }
      const headers = bLegHeaders(req, leg.callId === undefined ? leg.headers : { ...leg.headers, 'Call-ID': leg.callId })
      srf
        .createUAC(leg.destination, { localSdp: req.body, headers }, {
          cbRequest: (error, request) => {
            if (error !== null) return
            state.request = request
            if (state.cancelDue) this.#cancel(state)
          },
          cbProvisional: (response) => {
            // One ringing for the caller, without early media (two phones cannot share it).
            if (response.status < 180 || this.#provisional || this.#state !== 'ringing' || res.finalResponseSent) return
            this.#provisional = true
            res.send(180)
          },
        })
        .then(
          (dialog) => this.#answered(index, dialog),
          (error: SrfSipError) => this.#failed(index, error),
        )
    })
    this.#o.logger.info({ legs: this.#legs.map((s) => ({ target: s.leg.target, destination: s.leg.destination, device: s.leg.desk.deviceId, seated: s.leg.seat !== undefined })) }, 'forked call ringing')
  }

  /** A leg answered: the first takes the call, any later one is hung up. */
  #answered(index: number, uac: SrfDialog): void {
    const state = this.#legs[index]!
    state.unregister()
    if (this.#state !== 'ringing' || state.stopped !== undefined || state.cancelSent) {
      this.#o.logger.info({ device: state.leg.desk.deviceId }, 'forked call: a leg answered too late; hanging it up')
      uac.destroy().catch((error: unknown) => this.#o.logger.debug({ err: error }, 'BYE to a late leg failed'))
      return
    }
    this.#state = 'answered'
    clearTimeout(this.#ringTimer)
    for (const other of this.#legs) {
      if (other === state) continue
      other.unregister()
      this.#cancel(other)
    }
    this.#o.logger.info({ target: state.leg.target, device: state.leg.desk.deviceId }, 'forked call answered')
    this.#o.outcome?.answered(state.leg.desk)
    const { srf, req, res } = this.#o
    srf.createUAS(req, res, { localSdp: uac.remote.sdp }).then(
      (uas) => {
        relay(uas, uac, this.#o.logger)
        uas.on('destroy', () => this.#finish(true))
        uac.on('destroy', () => this.#finish(true))
      },
      (error: unknown) => {
        // The caller went away meanwhile: the answered leg is hung up.
        this.#o.logger.info({ err: error }, 'forked call: the caller could not be answered; hanging up the phone')
        uac.destroy().catch(() => undefined)
        this.#finish(true)
      },
    )
  }

  /** A leg failed (its final response, our CANCEL's 487, or not sent at all). */
  #failed(index: number, error: SrfSipError): void {
    const state = this.#legs[index]!
    state.unregister()
    state.failed = { status: error.status ?? 500, reason: error.reason ?? '' }
    if (state.request === undefined) state.settleCancel()
    if (this.#state !== 'ringing') return
    this.#o.logger.info({ device: state.leg.desk.deviceId, status: state.failed.status, reason: state.failed.reason, stopped: state.stopped !== undefined }, 'forked call: a leg failed')
    if (this.#legs.some((s) => s.failed === undefined)) return
    this.#state = 'ended'
    clearTimeout(this.#ringTimer)
    const { status, reason } = this.#best()
    if (!this.#o.res.finalResponseSent) this.#o.res.send(status, reason)
    this.#finish(false)
  }

  /** The response the caller gets when every leg failed (see the file comment). */
  #best(): { status: number; reason: string } {
    const outcomes = this.#legs.map((s) => s.stopped ?? s.failed!)
    const lowestClass = Math.min(...outcomes.map((o) => Math.floor(o.status / 100)))
    const inClass = outcomes.filter((o) => Math.floor(o.status / 100) === lowestClass)
    return inClass.find((o) => !NOBODY.has(o.status)) ?? inClass[0]!
  }

  /**
   * The node stops a seated leg (its worker left the phone, the lease lapsed): that leg alone is
   * CANCELled, unless the node shuts down (then the whole call ends with `status`). Resolves once
   * the engine took the CANCEL.
   */
  #stopLeg(index: number, status: number, reason: string, why: RingingStop): Promise<void> {
    if (why === 'shutdown' || why === 'timeout') {
      this.#endAll(status, reason)
      return this.#legs[index]!.cancelled ?? Promise.resolve()
    }
    const state = this.#legs[index]!
    if (this.#state !== 'ringing' || state.failed !== undefined) return Promise.resolve()
    this.#o.logger.info({ device: state.leg.desk.deviceId, status, reason }, 'forked call: the seated leg stopped while ringing')
    state.stopped = { status, reason }
    return this.#cancel(state)
  }

  /** Ends the call while ringing: the caller gets `status`, every leg a CANCEL. */
  #endAll(status: number, reason: string): void {
    if (this.#state !== 'ringing') return
    this.#state = 'ended'
    clearTimeout(this.#ringTimer)
    if (!this.#o.res.finalResponseSent) this.#o.res.send(status, reason)
    this.#cancelAll()
    this.#finish(false)
  }

  #cancelAll(): void {
    for (const state of this.#legs) {
      state.unregister()
      void this.#cancel(state)
    }
  }

  /** CANCELs a leg still ringing (as soon as its INVITE is out); resolves once the engine took it. */
  #cancel(state: LegState): Promise<void> {
    if (state.failed !== undefined) return Promise.resolve()
    state.cancelDue = true
    state.cancelled ??= new Promise<void>((resolve) => (state.settleCancel = resolve))
    const request = state.request
    if (request === undefined || state.cancelSent) return state.cancelled
    state.cancelSent = true
    try {
      request.cancel({}, (error) => {
        if (error !== null && error !== undefined) this.#o.logger.debug({ err: error }, 'CANCEL of a leg failed')
        state.settleCancel()
      })
    } catch (error) {
      this.#o.logger.debug({ err: error }, 'CANCEL of a leg failed')
      state.settleCancel()
    }
    return state.cancelled
  }

  #finish(answered: boolean): void {
    clearTimeout(this.#ringTimer)
    if (this.#ended) return
    this.#ended = true
    this.#o.outcome?.ended(answered)
  }
}

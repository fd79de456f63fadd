/**
 * A typed view of the drachtio-srf 5.0 API as it behaves. Its bundled typings differ from its
 * code in places: method handlers such as `srf.register` and `req.proxy` are missing,
 * `res.send(status, reason)` is typed wrongly, `srf.request` lacks its callback form, the proxy
 * result holds `msgs` per target, `createB2BUA`'s progress callbacks (`cbRequest`, `cbProvisional`,
 * `cbFinalizedUac`) and `req.cancel` are missing. The SIP node, the tests and the benchmarks build their
 * applications through {@link createSrf} and use only what is declared here.
 * @see node_modules/drachtio-srf/lib/srf.js, request.js, response.js, dialog.js, proto.js
 */
import Srf = require('drachtio-srf')

/** Header name → value (one value per name; drachtio-srf sets each as given). */
export type SipHeaders = Record<string, string>

/** An incoming request as drachtio-srf hands it to a handler. */
export interface SrfRequest {
  readonly method: string
  readonly uri: string
  readonly body: string
  /** `udp`, `tcp`, ... */
  readonly protocol: string
  /** `network` for requests from the wire, `application` for requests this app sent. */
  readonly source: string
  readonly source_address: string
  readonly source_port: number
  readonly stackTxnId: string
  /** The raw value of a header ('' or undefined when absent: check {@link has} first). */
  get(header: string): string
  has(header: string): boolean
  on(event: 'cancel', listener: () => void): this
  on(event: 'response', listener: (response: SrfResponseMessage) => void): this
  /** Proxies the request (stateful); resolves with the outcome once a final response was relayed. */
  proxy(options: ProxyOptions): Promise<ProxyResult>
  /**
   * CANCELs a request this application sent (an INVITE still without a final response). The
   * callback runs once the engine took the CANCEL (it holds it until the first provisional).
   */
  cancel(options?: { headers?: SipHeaders }, callback?: (error: Error | null) => void): void
}

/** Options of the response sent by {@link SrfResponse.send}. */
export interface SendOptions {
  headers?: SipHeaders
  body?: string
}

/** The response object of a handler. */
export interface SrfResponse {
  readonly status?: number
  /** True once a final response went out (drachtio-srf ignores later sends). */
  readonly finalResponseSent: boolean
  send(status: number, reason?: string, options?: SendOptions): void
  send(status: number, options: SendOptions): void
}

/** A response received to a request the application sent. */
export interface SrfResponseMessage {
  readonly status: number
  readonly reason: string
  readonly body: string
  get(header: string): string
}

/** Options of {@link SrfRequest.proxy}. */
export interface ProxyOptions {
  /** Request-URIs to try, in order (or all at once with `forking: 'simultaneous'`). */
  destination: string | string[]
  /** Record-Route the dialog through the engine (default false). */
  remainInDialog?: boolean
  forking?: 'sequential' | 'simultaneous'
  /** e.g. `'2s'`, `'1500ms'`: give up on a target without a provisional response after this. */
  provisionalTimeout?: string
  finalTimeout?: string
  followRedirects?: boolean
  /** Headers set (replacing any of the same name) on the proxied request. */
  headers?: SipHeaders
}

/** The outcome of a proxy operation. */
export interface ProxyResult {
  connected: boolean
  /** Undefined when no target answered at all. */
  finalStatus?: number
  responses: Array<{ address: string; port: number; msgs: Array<{ time: string; status: number; msg: SrfResponseMessage }> }>
}

/** A SIP dialog (UAS or UAC side). */
export interface SrfDialog {
  readonly id: string
  readonly local: { uri: string; sdp: string }
  readonly remote: { uri: string; sdp: string }
  request(options: { method: string; headers?: SipHeaders; body?: string }): Promise<SrfResponseMessage>
  /** Sends a re-INVITE with `sdp`; resolves once answered 2xx (then {@link remote} holds the answer). */
  modify(sdp: string): Promise<unknown>
  destroy(options?: { headers?: SipHeaders }): Promise<void>
  on(event: 'destroy', listener: (request?: SrfRequest) => void): this
  on(event: 'modify' | 'info', listener: (request: SrfRequest, response: SrfResponse) => void): this
}

/**
 * A final non-2xx response as drachtio-srf rejects with (its `SipError`); other failures are
 * plain errors without `status`.
 */
export interface SrfSipError extends Error {
  readonly status?: number
  readonly reason?: string
}

/** Options of {@link SrfApp.createB2BUA}. */
export interface B2BUAOptions {
  /** SDP offered to the B party (default: the A leg's body). */
  localSdpB?: string
  /** Headers of the B leg's INVITE (From and To here replace drachtio-srf's defaults). */
  headers?: SipHeaders
  /** Headers of the B leg's responses copied onto the A leg's (default none). */
  proxyResponseHeaders?: string[]
  /** Send the B leg's failure to the A leg (default true; not when the A leg already has a final response). */
  passFailure?: boolean
}

/** Progress callbacks of {@link SrfApp.createB2BUA}. */
export interface B2BUAProgress {
  /** The B leg's INVITE as sent (it can be CANCELled from then on), or why it could not be sent. */
  cbRequest?: (error: Error | null, request: SrfRequest) => void
  cbProvisional?: (response: SrfResponseMessage) => void
  /** The B party answered (2xx), before the A leg is answered. */
  cbFinalizedUac?: (uac: SrfDialog) => void
}

/** Options of {@link SrfApp.request} (a request outside any dialog). */
export interface RequestOptions {
  method: string
  headers?: SipHeaders
  body?: string
  auth?: { username: string; password: string }
  /** Outbound proxy: a SIP URI or `address[:port]`. */
  proxy?: string
}

/** A request handler (the last stage of a pipeline). */
export type Handler = (req: SrfRequest, res: SrfResponse) => void | Promise<void>

/**
 * A middleware stage: call `next()` to pass the request on, `next(error)` to fail it (drachtio-srf
 * then answers 500), or send a final response and do not call `next`.
 */
export type Middleware = (req: SrfRequest, res: SrfResponse, next: (error?: unknown) => void) => void

/** Connection options of {@link SrfApp.connect}. */
export interface ConnectOptions {
  host: string
  port: number
  secret: string
}

/** A drachtio-srf application. */
export interface SrfApp {
  register(handler: Handler): void
  options(handler: Handler): void
  message(handler: Handler): void
  invite(handler: Handler): void
  info(handler: Handler): void
  /**
   * Appends middleware for one method (lower case, e.g. `'invite'`) and routes that method to this
   * connection. Stages run in the order added; requests no stage answers get 404.
   */
  use(method: string, middleware: Middleware[]): void
  request(uri: string, options: RequestOptions, callback: (error: Error | null, request: SrfRequest) => void): void
  createUAS(req: SrfRequest, res: SrfResponse, options: { localSdp: string; headers?: SipHeaders }): Promise<SrfDialog>
  /**
   * Sends an INVITE and resolves with the dialog once it is answered (2xx); rejects with an
   * {@link SrfSipError} otherwise. `progress` as in {@link createB2BUA} (the INVITE as sent, the
   * provisional responses).
   */
  createUAC(
    uri: string,
    options: { localSdp?: string; headers?: SipHeaders; auth?: { username: string; password: string } },
    progress?: Pick<B2BUAProgress, 'cbRequest' | 'cbProvisional'>,
  ): Promise<SrfDialog>
  /**
   * Back-to-back user agent: sends the INVITE to `uri` (B leg), relays provisional responses and
   * the final one to the A leg (SDP passed through), CANCELs the B leg when the caller cancels.
   * Resolves with both dialogs once both are up; rejects with an {@link SrfSipError} otherwise.
   * In-dialog requests are left to the application (see the dialogs' events).
   */
  createB2BUA(req: SrfRequest, res: SrfResponse, uri: string, options: B2BUAOptions, progress?: B2BUAProgress): Promise<{ uas: SrfDialog; uac: SrfDialog }>
  proxyRequest(req: SrfRequest, destination: string | string[], options?: Omit<ProxyOptions, 'destination'>): Promise<ProxyResult>
  /** Connects to the engine; drachtio-srf reconnects on its own after a lost connection. */
  connect(options: ConnectOptions): void
  disconnect(): void
  on(event: 'connect', listener: (error: Error | null, hostport: string) => void): this
  on(event: 'reconnecting', listener: (opts: unknown) => void): this
  on(event: 'close' | 'error', listener: (error?: Error) => void): this
  once(event: 'connect', listener: (error: Error | null, hostport: string) => void): this
  removeListener(event: string, listener: (...args: never[]) => void): this
}

/** A new drachtio-srf application, typed as it behaves. */
export function createSrf(): SrfApp {
  return new Srf() as unknown as SrfApp
}

/**
 * A typed view of the drachtio-srf 5.0 API as it behaves. Its bundled typings differ from its
 * code in places: method handlers such as `srf.register` and `req.proxy` are missing,
 * `res.send(status, reason)` is typed wrongly, `srf.request` lacks its callback form, the proxy
 * result holds `msgs` per target. The SIP node, the tests and the benchmarks build their
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
  modify(sdp: string): Promise<unknown>
  destroy(options?: { headers?: SipHeaders }): Promise<void>
  on(event: 'destroy', listener: (request?: SrfRequest) => void): this
  on(event: 'modify' | 'info', listener: (request: SrfRequest, response: SrfResponse) => void): this
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
  createUAC(uri: string, options: { localSdp?: string; headers?: SipHeaders; auth?: { username: string; password: string } }): Promise<SrfDialog>
  createB2BUA(req: SrfRequest, res: SrfResponse, uri: string, options: { localSdpB?: string; headers?: SipHeaders }): Promise<{ uas: SrfDialog; uac: SrfDialog }>
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

/**
 * A typed view of the drachtio-srf 5.0 API as it behaves (its bundled typings differ in places:
 * method handlers such as `srf.register` and `req.proxy` are missing, `res.send(status, reason)`
 * is typed wrongly, `srf.request` lacks its callback form). Tests and benchmarks build their
 * applications through {@link createSrf} and use only what is declared here.
 * @see node_modules/drachtio-srf/lib/srf.js, request.js, response.js, dialog.js
 */
import Srf = require('drachtio-srf')

export type SipHeaders = Record<string, string>

/** An incoming request as drachtio-srf hands it to a handler. */
export interface SrfRequest {
  readonly method: string
  readonly uri: string
  readonly body: string
  readonly protocol: string
  readonly source: string
  readonly source_address: string
  readonly source_port: number
  readonly stackTxnId: string
  get(header: string): string
  has(header: string): boolean
  on(event: 'cancel', listener: () => void): this
  on(event: 'response', listener: (response: SrfResponseMessage) => void): this
  /** Proxies the request (stateful); resolves with the outcome once a final response was relayed. */
  proxy(options: ProxyOptions): Promise<ProxyResult>
}

/** The response object of a handler. */
export interface SrfResponse {
  readonly status?: number
  send(status: number, reason?: string, options?: { headers?: SipHeaders; body?: string }): void
  send(status: number, options: { headers?: SipHeaders; body?: string }): void
}

/** A response received to a request the application sent. */
export interface SrfResponseMessage {
  readonly status: number
  readonly reason: string
  readonly body: string
  get(header: string): string
}

export interface ProxyOptions {
  destination: string | string[]
  remainInDialog?: boolean
  forking?: 'sequential' | 'simultaneous'
  provisionalTimeout?: string
  finalTimeout?: string
  followRedirects?: boolean
}

export interface ProxyResult {
  connected: boolean
  finalStatus: number
  responses: Array<{ address: string; port: number; msg?: SrfResponseMessage }>
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

export interface RequestOptions {
  method: string
  headers?: SipHeaders
  body?: string
  auth?: { username: string; password: string }
  proxy?: string
}

export type Handler = (req: SrfRequest, res: SrfResponse) => void | Promise<void>

/** A drachtio-srf application. */
export interface SrfApp {
  register(handler: Handler): void
  options(handler: Handler): void
  message(handler: Handler): void
  invite(handler: Handler): void
  info(handler: Handler): void
  request(uri: string, options: RequestOptions, callback: (error: Error | null, request: SrfRequest) => void): void
  createUAS(req: SrfRequest, res: SrfResponse, options: { localSdp: string; headers?: SipHeaders }): Promise<SrfDialog>
  createUAC(uri: string, options: { localSdp?: string; headers?: SipHeaders; auth?: { username: string; password: string } }): Promise<SrfDialog>
  createB2BUA(req: SrfRequest, res: SrfResponse, uri: string, options: { localSdpB?: string; headers?: SipHeaders }): Promise<{ uas: SrfDialog; uac: SrfDialog }>
  proxyRequest(req: SrfRequest, destination: string | string[], options?: Omit<ProxyOptions, 'destination'>): Promise<ProxyResult>
  connect(options: { host: string; port: number; secret: string }): void
  disconnect(): void
  on(event: 'connect', listener: (error: Error | null, hostport: string) => void): this
  on(event: 'error', listener: (error: Error) => void): this
  once(event: 'connect', listener: (error: Error | null, hostport: string) => void): this
}

/** A new drachtio-srf application, typed as it behaves. */
export function createSrf(): SrfApp {
  return new Srf() as unknown as SrfApp
}

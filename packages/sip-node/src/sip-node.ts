/**
 * A branch's SIP node: wires the registry side (client, seat view and stream, confirmation
 * lease, directory) to the SIP side (registrar, feature codes, call routing, seat notifications)
 * on one drachtio-srf application connected to the branch's engine.
 *
 * Admission is a short pipeline of named middleware per method (jambonz style):
 * - REGISTER: `register` (the registrar authenticates with 401 itself);
 * - INVITE: `newCallsOnly` → `authenticate` (trunk signature, else phone digest with 407) →
 *   `classify` (feature code or call) → `dispatch` (one handler: feature code or routed call);
 * - OPTIONS: 200 (phones and carriers use it as a keep-alive);
 * - MESSAGE: 405. The node sends MESSAGEs to phones for their display; it does not relay phones'
 *   own instant messages (no chat between extensions), and says so rather than pretending with 200.
 */
import type { Device } from '@flexseat/proto'
import type { Logger } from 'pino'
import { CallRouter, type RouteDecision } from './call-router'
import type { SipNodeConfig } from './config'
import { DigestVerifier } from './digest'
import { DirectoryCache } from './directory-cache'
import { ConfirmationLease } from './confirmation-lease'
import { RegistryCallError } from './errors'
import { type FeatureCode, maskUri, parseFeatureCode, uriUser } from './feature-codes'
import { FeatureHandler } from './feature-handler'
import { RETRY_AFTER_SECONDS } from './feature-replies'
import { PhoneAuthenticator } from './phone-auth'
import { PhoneMessenger } from './phone-messenger'
import { Registrar } from './registrar'
import { RegistryClient } from './registry-client'
import { SeatNotifier } from './seat-notifier'
import { SeatStream } from './seat-stream'
import { SeatView } from './seat-view'
import { createSrf, type Middleware, type SrfApp, type SrfRequest, type SrfResponse } from './srf-adapter'
import { EPOCH_HEADER, HOPS_HEADER, TRUNK_HEADER, verifyTrunk } from './trunk-auth'

/** Options of {@link SipNode.start}. */
export interface SipNodeOptions {
  config: SipNodeConfig
  logger: Logger
  /** The drachtio-srf application (default a new one); the node connects it. */
  srf?: SrfApp
}

/**
 * Lifecycle: `running` once {@link SipNode.start} resolved (the engine connection and the seat
 * view come up in the background; {@link SipNode.ready} says when both are there), `stopping`
 * during {@link SipNode.stop}, then `stopped`.
 */
export type SipNodeState = 'running' | 'stopping' | 'stopped'

/** Methods the node answers (the Allow header of OPTIONS and 405). */
const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER'

/** What admission found out about an INVITE, kept beside the request. */
type Admission =
  | { source: 'phone'; device: Device; feature?: FeatureCode }
  | { source: 'trunk'; fromSite: string }

/** A running SIP node (see the file comment). */
export class SipNode {
  readonly config: SipNodeConfig
  readonly view: SeatView
  readonly registrar: Registrar
  readonly router: CallRouter
  /** Resolves once the engine is connected and the seat view holds its first snapshot. */
  readonly ready: Promise<void>
  readonly #logger: Logger
  readonly #srf: SrfApp
  readonly #client: RegistryClient
  readonly #stream: SeatStream
  readonly #lease: ConfirmationLease
  readonly #directory: DirectoryCache
  readonly #auth: PhoneAuthenticator
  readonly #features: FeatureHandler
  readonly #messenger: PhoneMessenger
  readonly #notifier: SeatNotifier
  readonly #admissions = new WeakMap<SrfRequest, Admission>()
  #state: SipNodeState = 'running'
  #connected = false
  #readyPoll: NodeJS.Timeout | undefined
  #stopping: Promise<void> | undefined

  private constructor(init: {
    config: SipNodeConfig
    logger: Logger
    srf: SrfApp
    client: RegistryClient
    view: SeatView
    stream: SeatStream
    lease: ConfirmationLease
    directory: DirectoryCache
  }) {
    const { config, logger, srf, client, view, stream, lease, directory } = init
    this.config = config
    this.#logger = logger
    this.#srf = srf
    this.#client = client
    this.view = view
    this.#stream = stream
    this.#lease = lease
    this.#directory = directory
    const site = config.site
    this.#auth = new PhoneAuthenticator({ siteId: site.id, realm: site.sip.domain, digest: new DigestVerifier(), directory })
    this.registrar = new Registrar({ auth: this.#auth, registration: config.registration, logger })
    const binding = (deviceId: string): { contact: string } | undefined => this.registrar.binding(deviceId)
    this.router = new CallRouter({ site, sites: config.sites, seats: view, lease, directory, binding, trunkSecret: config.trunkSecret })
    this.#features = new FeatureHandler({ site, client, seats: view, logger })
    this.#messenger = new PhoneMessenger({ srf, domain: site.sip.domain, binding, logger })
    this.#notifier = SeatNotifier.start({ site, sites: config.sites, nodeId: config.nodeId, view, lease, directory, messenger: this.#messenger, client, logger })
    let markReady: () => void = () => undefined
    this.ready = new Promise<void>((resolve) => (markReady = resolve))
    // The view has no "ready" event (an empty snapshot changes nothing, so it emits nothing):
    // look every 100 ms until both halves are up.
    this.#readyPoll = setInterval(() => {
      if (!this.#connected || !this.view.ready) return
      clearInterval(this.#readyPoll)
      this.#readyPoll = undefined
      logger.info({ revision: view.revision, seats: view.size, engine: `${config.drachtio.host}:${config.drachtio.port}` }, 'sip node ready')
      markReady()
    }, 100)
    this.#readyPoll.unref()
  }

  /**
   * Starts the node: registry client, seat stream, directory, confirmation lease, the SIP
   * handlers, and the engine connection (drachtio-srf reconnects on its own when it drops).
   */
  static async start(options: SipNodeOptions): Promise<SipNode> {
    const { config, logger } = options
    const client = new RegistryClient({ addresses: config.registryAddresses, token: config.registryToken, ca: config.registryCa, logger })
    const view = new SeatView()
    const stream = SeatStream.start({ client, view, logger })
    let directory: DirectoryCache
    try {
      directory = await DirectoryCache.create({ client, logger })
    } catch (error) {
      await stream.stop()
      client.close()
      throw error
    }
    const lease = ConfirmationLease.start({ client, siteId: config.site.id, nodeId: config.nodeId, view, stream, logger })
    const node = new SipNode({ config, logger, srf: options.srf ?? createSrf(), client, view, stream, lease, directory })
    node.#wire()
    return node
  }

  /** See {@link SipNodeState}. */
  get state(): SipNodeState {
    return this.#state
  }

  /** Whether the engine connection is up. */
  get connected(): boolean {
    return this.#connected
  }

  /**
   * Stops the node: leaves the engine (no new calls are admitted), releases the confirmation
   * lease (the branch's pending revocations complete at once), stops the stream, the directory
   * and the registry client. Idempotent; after `timeoutMs` (default 5 000) whatever is still
   * pending is abandoned and the registry client closed.
   */
  stop(timeoutMs = 5_000): Promise<void> {
    if (this.#stopping !== undefined) return this.#stopping
    this.#state = 'stopping'
    const graceful = async (): Promise<void> => {
      if (this.#readyPoll !== undefined) clearInterval(this.#readyPoll)
      this.#disconnect()
      this.#notifier.stop()
      await this.#lease.stop()
      await this.#stream.stop()
      this.#directory.stop()
      this.registrar.stop()
    }
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs)
      timer.unref()
    })
    this.#stopping = Promise.race([graceful().then(() => 'done' as const), deadline])
      .then(
        (outcome) => {
          if (outcome === 'timeout') this.#logger.warn({ timeoutMs }, 'sip node stop timed out: abandoning what is left')
        },
        (error: unknown) => this.#logger.warn({ err: error }, 'sip node did not stop cleanly'),
      )
      .finally(() => {
        clearTimeout(timer)
        this.#client.close()
        this.#state = 'stopped'
      })
    return this.#stopping
  }

  #disconnect(): void {
    try {
      this.#srf.disconnect()
    } catch {
      // never connected, or already gone
    }
    this.#connected = false
  }

  #wire(): void {
    const srf = this.#srf
    const { drachtio } = this.config
    srf.on('connect', (error, hostport) => {
      if (error) {
        this.#logger.error({ err: error }, 'engine refused the connection')
        return
      }
      this.#connected = true
      this.#logger.info({ hostport }, 'engine connected')
    })
    srf.on('reconnecting', () => this.#logger.warn({ engine: `${drachtio.host}:${drachtio.port}` }, 'engine connection lost; reconnecting'))
    srf.on('close', () => {
      this.#connected = false
    })
    // Without a listener drachtio-srf's 'error' would crash the process.
    srf.on('error', (error) => this.#logger.warn({ err: error }, 'engine connection error'))

    srf.use('register', [this.#stage('register', async (req, res) => this.registrar.handle(req, res).then(() => false))])
    srf.use('invite', [this.#newCallsOnly, this.#stage('authenticate', (req, res) => this.#authenticate(req, res)), this.#classify, this.#stage('dispatch', (req, res) => this.#dispatch(req, res).then(() => false))])
    srf.use('options', [(_req, res) => res.send(200, { headers: { Allow: ALLOW, Accept: 'application/sdp' } })])
    srf.use('message', [(_req, res) => res.send(405, { headers: { Allow: ALLOW } })])
    srf.connect({ host: drachtio.host, port: drachtio.port, secret: drachtio.secret })
  }

  /**
   * An async middleware stage: `run` resolves true to pass the request on. A rejection is
   * answered here (the one place SIP failures are mapped): the registry unreachable → 503 with
   * Retry-After, anything else → 500; drachtio-srf's own handler would print to stderr.
   */
  #stage(name: string, run: (req: SrfRequest, res: SrfResponse) => Promise<boolean>): Middleware {
    const stage: Middleware = (req, res, next) => {
      run(req, res).then(
        (pass) => {
          if (pass) next()
        },
        (error: unknown) => {
          const unavailable = error instanceof RegistryCallError
          this.#logger.warn({ err: error, stage: name, method: req.method, callId: req.get('Call-ID') }, 'request failed')
          if (res.finalResponseSent) return
          if (unavailable) res.send(503, { headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } })
          else res.send(500)
        },
      )
    }
    Object.defineProperty(stage, 'name', { value: name })
    return stage
  }

  // An INVITE inside a dialog reaches the node only if the dialog is not routed through the
  // engine: none of ours is, so there is nothing it could belong to.
  readonly #newCallsOnly: Middleware = (req, res, next) => {
    if (/;\s*tag=/i.test(req.get('To') ?? '')) return res.send(481)
    next()
  }

  async #authenticate(req: SrfRequest, res: SrfResponse): Promise<boolean> {
    if (req.has(TRUNK_HEADER)) {
      const verdict = verifyTrunk(this.config.trunkSecret, req.get(TRUNK_HEADER), {
        callId: req.get('Call-ID'),
        user: decodeUser(uriUser(req.uri)),
        epoch: req.has(EPOCH_HEADER) ? (req.get(EPOCH_HEADER) ?? '').trim() : '',
      })
      if (!verdict.ok) {
        this.#logger.warn({ reason: verdict.reason, source: `${req.source_address}:${req.source_port}`, callId: req.get('Call-ID') }, 'trunk request refused')
        res.send(403, 'Trunk not authenticated')
        return false
      }
      this.#admissions.set(req, { source: 'trunk', fromSite: verdict.fromSite })
      return true
    }
    const auth = await this.#auth.authenticate(req)
    if (auth.kind === 'challenge') {
      res.send(auth.status, { headers: { [auth.header]: auth.value } })
      return false
    }
    if (auth.kind === 'forbidden') {
      this.#logger.info({ why: auth.why, source: `${req.source_address}:${req.source_port}`, callId: req.get('Call-ID') }, 'invite refused')
      res.send(403)
      return false
    }
    this.#admissions.set(req, { source: 'phone', device: auth.device })
    return true
  }

  readonly #classify: Middleware = (req, _res, next) => {
    const admission = this.#admissions.get(req)
    if (admission?.source === 'phone') {
      const feature = parseFeatureCode(uriUser(req.uri), this.config.site.featureCodes)
      if (feature !== undefined) this.#admissions.set(req, { ...admission, feature })
    }
    next()
  }

  async #dispatch(req: SrfRequest, res: SrfResponse): Promise<void> {
    const admission = this.#admissions.get(req)
    if (admission === undefined) return res.send(500)
    const callId = req.get('Call-ID')
    if (admission.source === 'phone' && admission.feature !== undefined) return this.#feature(req, res, admission.device, admission.feature)
    const logger = this.#logger.child({ callId, ...(admission.source === 'phone' ? { device: admission.device.id } : { fromSite: admission.fromSite }) })
    const user = uriUser(req.uri)
    let decision: RouteDecision
    if (admission.source === 'phone') {
      decision = await this.router.fromPhone({ device: admission.device, user, callId })
    } else {
      const hops = Number(req.has(HOPS_HEADER) ? req.get(HOPS_HEADER) : '0')
      decision = await this.router.fromTrunk({ user, callId, epoch: req.has(EPOCH_HEADER) ? (req.get(EPOCH_HEADER) ?? '').trim() : '', hops: Number.isInteger(hops) && hops >= 0 ? hops : 1 })
    }
    if (decision.kind === 'reject') {
      logger.info({ to: user, status: decision.status, reason: decision.reason }, 'call refused')
      return res.send(decision.status, decision.reason)
    }
    logger.info({ to: user, target: decision.target, destinations: decision.destinations }, 'call routed')
    // Record-Route: in-dialog requests (ACK, BYE, re-INVITE) follow the same path through the
    // engine, whichever way the phones' Contacts point (NAT, the trunk).
    req.proxy({ destination: decision.destinations, headers: decision.headers, remainInDialog: true }).then(
      (result) => logger.debug({ connected: result.connected, status: result.finalStatus }, 'call proxied'),
      (error: unknown) => logger.warn({ err: error }, 'proxy failed'),
    )
  }

  async #feature(req: SrfRequest, res: SrfResponse, device: Device, code: FeatureCode): Promise<void> {
    const from = req.get('From') ?? ''
    const invite = { callId: req.get('Call-ID'), cseq: (req.get('CSeq') ?? '').trim().split(/\s+/)[0] ?? '', fromTag: /;\s*tag=([^;>\s]+)/i.exec(from)?.[1] ?? '' }
    const reply = await this.#features.run(code, device, invite)
    // The dialled string is logged masked: it carries the PIN.
    this.#logger.info({ device: device.id, callId: invite.callId, dialled: maskUri(req.uri, this.config.site.featureCodes), status: reply.status, reason: reply.reason }, 'feature code')
    res.send(reply.status, reply.reason, { headers: reply.headers })
    if (reply.message !== undefined) void this.#messenger.send(device.id, reply.message)
  }
}

function decodeUser(user: string): string {
  try {
    return decodeURIComponent(user)
  } catch {
    return user
  }
}

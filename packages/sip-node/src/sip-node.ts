/**
 * A branch's SIP node: wires the registry side (client, seat view and stream, confirmation
 * lease, directory) to the SIP side (registrar, feature codes, call routing, seat notifications)
 * on one drachtio-srf application connected to the branch's engine.
 *
 * Admission is a short pipeline of named middleware per method (jambonz style):
 * - REGISTER: `register` (the registrar authenticates with 401 itself);
 * - INVITE: `newCallsOnly` → `authenticate` (trunk signature, else phone digest with 407) →
 *   `noPhoneRoute` (a phone's own Route is refused) → `classify` (feature code or call) →
 *   `dispatch` (one handler: feature code or routed call);
 * - OPTIONS: 200 (phones and carriers use it as a keep-alive);
 * - MESSAGE: 405. The node sends MESSAGEs to phones for their display; it does not relay phones'
 *   own instant messages (no chat between extensions), and says so rather than pretending with 200.
 *
 * Routed calls are carried back to back (back-to-back-call.ts): every call from a phone (its
 * credentials and identity claims stay at the node), every call that rings a phone because a
 * worker is seated there (so that the node can stop the ringing when the worker leaves the
 * phone: ringing-calls.ts, seat-notifier.ts), and a trunk call forwarded to another branch (it
 * is signed afresh). Only a trunk call the node passes on unchanged (to a device's own
 * extension) is proxied (stateful, Record-Route).
 */
import { randomBytes } from 'node:crypto'
import { DEFAULT_SIP_SECURITY } from '@flexseat/config'
import type { Device, FunctionKey, PhoneBinding } from '@flexseat/proto'
import { contextFromHeaders, inSpan, traceHeaders } from '@flexseat/telemetry'
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api'
import type { Logger } from 'pino'
import { BindingReporter } from './binding-reporter'
import { BusyLamps } from './busy-lamps'
import { type DeskKeySource, deskBlfKeys } from './desk-keys'
import { DialogStream } from './dialog-stream'
import { standInTag } from './dialog-info'
import { deviceKey, DialogView, userKey } from './dialog-view'
import { parsePickupCode, parseReplaces, PickableCalls } from './pickup'
import { CallRouter, LOCATION_HEADER, type RouteDecision } from './call-router'
import type { SipNodeConfig } from './config'
import { AuthGuard } from './auth-guard'
import { DigestVerifier } from './digest'
import { DirectoryCache } from './directory-cache'
import { ConfirmationLease } from './confirmation-lease'
import { RegistryCallError } from './errors'
import { BackToBackCall, type CallOutcomeListener } from './back-to-back-call'
import { ActivityReporter } from './activity-reporter'
import { SeatWarnings } from './seat-warnings'
import { CallLog } from './call-log'
import { CallReporter } from './call-reporter'
import { GEOLOCATION_HEADER, GEOLOCATION_ROUTING_HEADER, withLocation } from './emergency-location'
import { ForkedCall } from './forked-call'
import { SecurityDesk } from './security-desk'
import { type FeatureCode, maskUri, parseFeatureCode, uriUser } from './feature-codes'
import { FeatureHandler } from './feature-handler'
import { RETRY_AFTER_SECONDS } from './feature-replies'
import { PhoneAuthenticator } from './phone-auth'
import { PhoneMessenger } from './phone-messenger'
import { claimNodeRecord, type PreviousNode } from './previous-node'
import { foreignTargetsOf, Registrar } from './registrar'
import { RegistryClient } from './registry-client'
import { RingingCalls } from './ringing-calls'
import { SeatNotifier } from './seat-notifier'
import { DeskAnswers } from './desk-answers'
import { SeatStream } from './seat-stream'
import { SeatView } from './seat-view'
import { NodeMetrics } from './node-metrics'
import { createSrf, type Middleware, type SrfApp, type SrfRequest, type SrfResponse } from './srf-adapter'
import { TRUNK_HEADER, trunkRequestOf, TrunkVerifier } from './trunk-auth'

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
const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, SUBSCRIBE'

/** How long {@link SipNode.stop} waits for the CANCELs of calls still ringing for workers. */
const STOP_RINGING_MS = 1_000
/** How long {@link SipNode.stop} waits for the last report of phone bindings. */
const STOP_REPORT_MS = 1_000

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
  readonly #metrics: NodeMetrics
  readonly #directory: DirectoryCache
  readonly #auth: PhoneAuthenticator
  readonly #features: FeatureHandler
  readonly #messenger: PhoneMessenger
  readonly #notifier: SeatNotifier
  /** The desks' feature codes not answered yet (the notifier's texts to a desk wait for its answer). */
  readonly #answers = new DeskAnswers()
  readonly #reporter: BindingReporter
  readonly #calls: CallReporter
  readonly #activity: ActivityReporter
  readonly #warnings: SeatWarnings
  readonly #securityDesk: SecurityDesk
  readonly #dialogs = new DialogView()
  readonly #dialogStream: DialogStream
  readonly #lamps: BusyLamps
  readonly #offDirectory: () => void
  readonly #ringing = new RingingCalls()
  readonly #pickable = new PickableCalls()
  readonly #trunk: TrunkVerifier
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
    this.#metrics = new NodeMetrics(site.id)
    const guard = new AuthGuard(site.sipSecurity ?? DEFAULT_SIP_SECURITY, {
      // The address only: no username, password, nonce or digest of what the source sent.
      banned: ({ source, failures, banSeconds }) => {
        this.#metrics.authBan()
        logger.warn({ source, failures, banSeconds }, 'sip source banned: too many authentication failures')
      },
      delayed: ({ source, failures, delayMs }) => logger.warn({ source, failures, delayMs }, 'sip source delayed: authentication failures'),
      answerDelayed: () => this.#metrics.authDelayed(),
    })
    this.#auth = new PhoneAuthenticator({ siteId: site.id, realm: site.sip.domain, digest: new DigestVerifier(), directory, guard })
    this.registrar = new Registrar({ auth: this.#auth, registration: config.registration, logger, foreignTargets: foreignTargetsOf(config) })
    this.#reporter = BindingReporter.start({
      client,
      siteId: site.id,
      nodeId: config.nodeId,
      registrar: this.registrar,
      lease: {
        // The registry refuses a report from a node that does not hold the lease.
        held: () => lease.held,
        onActive: (listener) => {
          lease.on('active', listener)
          return () => lease.off('active', listener)
        },
      },
      logger,
    })
    this.#calls = CallReporter.start({ client, siteId: site.id, nodeId: config.nodeId, logger })
    this.#activity = ActivityReporter.start({ client, siteId: site.id, nodeId: config.nodeId, logger })
    this.#trunk = new TrunkVerifier({ secret: config.trunkSecret, siteId: site.id })
    const binding = (deviceId: string): { contact: string } | undefined => this.registrar.binding(deviceId)
    this.router = new CallRouter({ site, sites: config.sites, seats: view, lease, directory, binding, trunkSecret: config.trunkSecret })
    this.#features = new FeatureHandler({ site, client, seats: view, logger, sites: config.sites, directory })
    this.#messenger = new PhoneMessenger({ srf, domain: site.sip.domain, binding, logger })
    this.#metrics.observeBans(() => guard.bannedSources)
    this.#metrics.observe({ leaseActive: () => lease.active, phonesRegistered: () => this.registrar.size })
    this.#securityDesk = new SecurityDesk({ srf, siteId: site.id, domain: site.sip.domain, config: site.emergency, seats: view, lease, directory, binding, logger })
    if (site.emergency?.civicAddress === undefined) logger.warn({ site: site.id }, 'no emergency.civic_address: emergency calls carry only the text location (X-Flexseat-Location), no PIDF-LO')
    this.#warnings = SeatWarnings.start({ site, view, messenger: this.#messenger, logger })
    this.#dialogStream = DialogStream.start({ client, view: this.#dialogs, logger })
    const keySource = {
      getDevice: (key: { deviceId: string }) => client.getDevice(key),
      getUser: (userId: string) => client.getUser(userId),
      getFunctionKeyProfile: (name: string) => client.getFunctionKeyProfile(name),
      seatAt: (deviceId: string) => view.byDevice(deviceId),
      siteDefaultProfile: site.provisioning?.defaultProfile,
    }
    this.#lamps = new BusyLamps({ srf, domain: site.sip.domain, directory, seats: view, dialogs: this.#dialogs, config: config.busyLamps, listKeys: (deviceId) => deskBlfKeys(keySource, deviceId), logger })
    // After each directory refresh the lamps compare what they hold with the directory (a
    // worker's show_caller_on_lamps, a desk's BLF keys): devices and users as just listed, each
    // profile read once per pass.
    this.#offDirectory = directory.onRefresh(() => {
      const profiles = new Map<string, Promise<{ keys: FunctionKey[] } | undefined>>()
      const pass: DeskKeySource = {
        ...keySource,
        getDevice: (key) => directory.deviceForAuth(key.deviceId),
        getUser: (userId) => directory.userHeld(userId),
        getFunctionKeyProfile: (name) => {
          let profile = profiles.get(name)
          if (profile === undefined) profiles.set(name, (profile = keySource.getFunctionKeyProfile(name)))
          return profile
        },
      }
      void this.#lamps.compareWithDirectory((deviceId) => deskBlfKeys(pass, deviceId))
    })
    this.#notifier = SeatNotifier.start({ site, sites: config.sites, nodeId: config.nodeId, view, lease, directory, messenger: this.#messenger, client, ringing: this.#ringing, answers: this.#answers, logger, metrics: this.#metrics })
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
    const client = new RegistryClient({ addresses: config.registryAddresses, token: config.registryToken, ca: config.registryCa, clientCertificate: config.registryClientCertificate, logger })
    const view = new SeatView()
    const stream = SeatStream.start({ client, view, logger })
    // Read beside the directory's load; a failure is logged, not fatal.
    const saved = client.listBindings(config.site.id).catch((error: unknown) => {
      logger.warn({ err: error }, 'phone bindings not restored: the registry did not list them')
      return undefined
    })
    let directory: DirectoryCache
    try {
      directory = await DirectoryCache.create({ client, logger, refreshMs: config.directoryRefreshSeconds * 1_000 })
    } catch (error) {
      await saved
      await stream.stop()
      client.close()
      throw error
    }
    // In the background: the lease below retries LEASE_HELD each second until the release lands.
    if (config.stateDir !== undefined) void takeOverFromDeadPredecessor(config, client, logger)
    directory.holdCredentialsOf(config.site.id)
    const lease = ConfirmationLease.start({ client, siteId: config.site.id, nodeId: config.nodeId, view, stream, logger })
    const node = new SipNode({ config, logger, srf: options.srf ?? createSrf(), client, view, stream, lease, directory })
    // Before the engine connection (hence before `sip node ready`): a REGISTER cannot race it.
    await node.#restoreBindings(await saved)
    node.#wire()
    return node
  }

  /**
   * Loads the phone bindings the cluster kept for this site into the registrar (a restarted
   * node reaches its phones before they register again). Never fails the start: without them the
   * phones are reached once they re-register.
   */
  async #restoreBindings(saved: PhoneBinding[] | undefined): Promise<void> {
    if (saved === undefined || saved.length === 0) return
    const site = this.config.site.id
    const outcome = await this.registrar.restore(
      saved.map((b) => ({ deviceId: b.deviceId, contact: b.contact, source: b.source, userAgent: b.userAgent, expiresAt: b.expiresAt?.getTime() ?? 0, registeredAt: b.registeredAt?.getTime() })),
      { siteId: site, device: (id) => this.#directory.deviceForAuth(id) },
    )
    this.#logger.info({ restored: outcome.restored.length, skipped: outcome.skipped.slice(0, 20), devices: outcome.restored.slice(0, 20) }, 'phone bindings restored')
  }

  /** See {@link SipNodeState}. */
  get state(): SipNodeState {
    return this.#state
  }

  /** Whether the engine connection is up. */
  get connected(): boolean {
    return this.#connected
  }

  /** Number of calls ringing a phone for a seated worker right now. */
  get ringingCalls(): number {
    return this.#ringing.size
  }

  /**
   * Stops the node: stops the calls ringing phones for workers (their callers get 480, the phones
   * a CANCEL; at most 1 s is spent waiting for the engine to take the CANCELs: a phone's leg
   * would otherwise ring on after the revocations complete below), leaves the engine (no new
   * calls are admitted), releases the confirmation lease (the branch's pending revocations complete at once), stops the stream, the directory
   * and the registry client. Idempotent; after `timeoutMs` (default 5 000) whatever is still
   * pending is abandoned and the registry client closed.
   */
  stop(timeoutMs = 5_000): Promise<void> {
    if (this.#stopping !== undefined) return this.#stopping
    this.#state = 'stopping'
    const graceful = async (): Promise<void> => {
      if (this.#readyPoll !== undefined) clearInterval(this.#readyPoll)
      await settleWithin(this.#ringing.stopAll('shutdown'), STOP_RINGING_MS)
      // Phones are told to subscribe again (to the node that comes back), before the engine goes.
      await settleWithin(this.#lamps.stop(), STOP_RINGING_MS)
      this.#disconnect()
      await this.#dialogStream.stop()
      this.#notifier.stop()
      this.#warnings.stop()
      // While the lease is still held: the changes not reported yet (the bindings stay in the
      // cluster: a restarted node restores them).
      await settleWithin(this.#reporter.stop(), STOP_REPORT_MS)
      // The calls that ended (those the stop above cut short included) reach the call lists.
      await settleWithin(this.#calls.stop(), STOP_REPORT_MS)
      await settleWithin(this.#activity.stop(), STOP_REPORT_MS)
      await this.#lease.stop()
      await this.#stream.stop()
      this.#offDirectory()
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

    srf.use('register', [
      this.#stage('register', async (req, res) =>
        this.registrar.handle(req, res).then(() => {
          if (res.status !== undefined) this.#metrics.registration(res.status)
          return false
        }),
      ),
    ])
    srf.use('invite', [
      this.#newCallsOnly,
      this.#stage('authenticate', (req, res) => this.#authenticate(req, res)),
      this.#noPhoneRoute,
      this.#classify,
      this.#stage('dispatch', (req, res) => this.#dispatch(req, res).then(() => false)),
    ])
    srf.use('subscribe', [
      // A SUBSCRIBE in a dialog this node does not hold (the node restarted): 481 tells the phone
      // to subscribe anew (RFC 6665 §4.1.3), before any authentication.
      (req, res, next) => (/;\s*tag=/i.test(req.get('To') ?? '') ? res.send(481, 'Subscription does not exist') : next()),
      this.#stage('authenticate', (req, res) => this.#authenticatePhone(req, res)),
      this.#stage('busy lamp', (req, res) => {
        const admission = this.#admissions.get(req)
        return this.#lamps.subscribe(req, res, admission?.source === 'phone' ? admission.device.id : undefined).then(() => false)
      }),
    ])
    srf.use('options', [(_req, res) => res.send(200, { headers: { Allow: ALLOW, Accept: 'application/sdp', 'Allow-Events': 'dialog' } })])
    srf.use('message', [(_req, res) => res.send(405, { headers: { Allow: ALLOW } })])
    srf.connect({ host: drachtio.host, port: drachtio.port, secret: drachtio.secret })
  }

  /**
   * An async middleware stage: `run` resolves true to pass the request on. A rejection is
   * answered here (the one place SIP failures are mapped): a registry failure a retry can help
   * with (RegistryCallError.retryable: unreachable, no leader, ...) → 503 with Retry-After,
   * anything else (e.g. PERMISSION_DENIED: the node's token is refused) → 500; drachtio-srf's
   * own handler would print to stderr.
   */
  #stage(name: string, run: (req: SrfRequest, res: SrfResponse) => Promise<boolean>): Middleware {
    const stage: Middleware = (req, res, next) => {
      run(req, res).then(
        (pass) => {
          if (pass) next()
        },
        (error: unknown) => {
          const retryable = error instanceof RegistryCallError && error.retryable
          this.#logger.warn({ err: error, stage: name, method: req.method, callId: req.get('Call-ID') }, 'request failed')
          if (res.finalResponseSent) return
          if (retryable) res.send(503, { headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } })
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
      const verdict = this.#trunk.verify(req.get(TRUNK_HEADER), trunkRequestOf(req))
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
      if (auth.replayOf !== undefined) this.#logger.warn({ device: auth.replayOf, source: `${req.source_address}:${req.source_port}`, callId: req.get('Call-ID') }, 'invite refused: replayed credentials')
      res.send(auth.status, { headers: { [auth.header]: auth.value } })
      return false
    }
    if (auth.kind === 'forbidden') {
      // A banned source's requests are not logged one by one (its ban was).
      if (auth.why !== 'banned') this.#logger.info({ why: auth.why, source: `${req.source_address}:${req.source_port}`, callId: req.get('Call-ID') }, 'invite refused')
      res.send(403)
      return false
    }
    this.#admissions.set(req, { source: 'phone', device: auth.device })
    return true
  }

  /** A SUBSCRIBE (busy lamp): from a phone of this branch only, authenticated as an INVITE (407). */
  async #authenticatePhone(req: SrfRequest, res: SrfResponse): Promise<boolean> {
    const auth = await this.#auth.authenticate(req)
    if (auth.kind === 'challenge') {
      if (auth.replayOf !== undefined) this.#logger.warn({ device: auth.replayOf, source: `${req.source_address}:${req.source_port}`, callId: req.get('Call-ID') }, 'subscribe refused: replayed credentials')
      res.send(auth.status, { headers: { [auth.header]: auth.value } })
      return false
    }
    if (auth.kind === 'forbidden') {
      if (auth.why !== 'banned') this.#logger.info({ why: auth.why, source: `${req.source_address}:${req.source_port}`, callId: req.get('Call-ID') }, 'subscribe refused')
      res.send(403)
      return false
    }
    this.#admissions.set(req, { source: 'phone', device: auth.device })
    return true
  }

  // The engine strips the Routes naming itself; a Route still there is the phone's own choice of
  // next hop, which a proxied call would follow: the phone could steer calls (and, to another
  // branch, the trunk signature) anywhere. Only phones: another node's requests carry none.
  readonly #noPhoneRoute: Middleware = (req, res, next) => {
    if (this.#admissions.get(req)?.source === 'phone' && req.has('Route')) {
      this.#logger.info({ route: req.get('Route'), source: `${req.source_address}:${req.source_port}`, callId: req.get('Call-ID') }, 'invite refused: Route from a phone')
      return res.send(403, 'Route not allowed')
    }
    next()
  }

  readonly #classify: Middleware = (req, _res, next) => {
    const admission = this.#admissions.get(req)
    if (admission?.source === 'phone') {
      const feature = parseFeatureCode(uriUser(req.uri), this.config.site.featureCodes)
      if (feature !== undefined) this.#admissions.set(req, { ...admission, feature })
    }
    next()
  }

  // Each INVITE is handled in a span (`sip.feature_code` for a feature code, `sip.invite` for a
  // call, until the call is handed to the B2BUA or proxied): a sign-in's trace begins here, and a
  // call from another branch continues the trace its INVITE carries (`traceparent`).
  async #dispatch(req: SrfRequest, res: SrfResponse): Promise<void> {
    const admission = this.#admissions.get(req)
    const attributes = { 'sip.call_id': req.get('Call-ID') ?? '', ...(admission?.source === 'phone' ? { 'flexseat.device': admission.device.id } : {}) }
    if (admission?.source === 'phone' && admission.feature !== undefined) {
      const { device, feature } = admission
      return inSpan(TRACER, 'sip.feature_code', { kind: SpanKind.SERVER, root: true, attributes: { ...attributes, 'flexseat.feature': feature.kind } }, () => this.#feature(req, res, device, feature), ROOT_CONTEXT)
    }
    // Only another branch's trace is continued (its trunk signature was checked); a phone starts one.
    const parent = admission?.source === 'trunk' ? contextFromHeaders((name) => (req.has(name) ? req.get(name) : undefined), ROOT_CONTEXT) : ROOT_CONTEXT
    return inSpan(TRACER, 'sip.invite', { kind: SpanKind.SERVER, attributes: { ...attributes, 'flexseat.source': admission?.source ?? 'unknown' } }, () => this.#call(req, res), parent)
  }

  async #call(req: SrfRequest, res: SrfResponse): Promise<void> {
    const startedAt = Date.now()
    const admission = this.#admissions.get(req)
    if (admission === undefined) return res.send(500)
    const callId = req.get('Call-ID')
    const logger = this.#logger.child({ callId, ...(admission.source === 'phone' ? { device: admission.device.id } : { fromSite: admission.fromSite }) })
    const user = uriUser(req.uri)
    const route = (): Promise<RouteDecision> => {
      if (admission.source === 'phone') return this.router.fromPhone({ device: admission.device, user, callId })
      // The fields the trunk signature covered (verified in #authenticate).
      const { epoch, hops, identity } = trunkRequestOf(req)
      return this.router.fromTrunk({ user, callId, epoch, hops, identity })
    }
    // A directed pickup (Replaces, or the pickup code) takes a ringing call instead of placing one.
    if (req.has('Replaces') || (admission.source === 'phone' && parsePickupCode(user) !== undefined)) return this.#pickup(req, res, admission, user, logger)
    const decision = await route()
    // Kari's Law: the security desk hears of every emergency call as it is routed, whether or not
    // the carrier takes it.
    if (decision.kind !== 'fork' && decision.emergency !== undefined) {
      logger.warn({ to: user, alert: decision.emergency.alert }, 'emergency call')
      void this.#securityDesk.alert(decision.emergency.alert)
    }
    const log = admission.source === 'phone' && decision.call !== undefined ? this.#callLog(req, admission.device, startedAt, decision.call) : undefined
    if (decision.kind === 'reject') {
      logger.info({ to: user, status: decision.status, reason: decision.reason }, 'call refused')
      this.#metrics.callRouted('refused', admission.source)
      log?.ended()
      return res.send(decision.status, decision.reason)
    }
    if (this.#state !== 'running') {
      log?.ended()
      return res.send(503, { headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } })
    }
    if (decision.kind === 'fork') {
      this.#metrics.callRouted('ring-both', admission.source)
      logger.info({ to: user, legs: decision.legs.map((leg) => ({ target: leg.target, destination: leg.destination, device: leg.desk.deviceId })), user: decision.call.callee?.userId, carried: 'fork' }, 'call routed')
      ForkedCall.start({
        srf: this.#srf,
        req,
        res,
        legs: decision.legs.map((leg) => ({ ...leg, headers: withTraceContext(leg.headers), seat: leg.seat === undefined ? undefined : { userId: leg.seat.userId, extension: leg.seat.extension, deviceId: leg.seat.deviceId } })),
        ringing: this.#ringing,
        logger,
        ...(log === undefined ? {} : { outcome: { answered: (desk) => log.answered(desk), ended: () => log.ended() } }),
      })
      return
    }
    // No await since the router decided: the seat it rings is still the view's (invariant 4).
    const seat = decision.seat
    const proxied = seat === undefined && admission.source === 'trunk' && Object.keys(decision.headers).length === 0
    this.#metrics.callRouted(decision.target, admission.source)
    logger.info({ to: user, target: decision.target, destinations: decision.destinations, ...(seat === undefined ? {} : { user: seat.userId, device: seat.deviceId }), carried: proxied ? 'proxy' : 'b2bua' }, 'call routed')
    if (!proxied) {
      const outcome: CallOutcomeListener | undefined = log === undefined ? undefined : { answered: () => log.answered(), ended: () => log.ended() }
      let headers = withTraceContext(decision.headers)
      let body: { content: string; contentType: string } | undefined
      const location = decision.emergency?.location
      if (location !== undefined) {
        if (req.body.trim() === '') {
          // No offer to put the location beside (a late offer): the text form, as without an address.
          logger.warn('emergency call without an SDP offer: its location goes as text')
          headers = { ...headers, [GEOLOCATION_HEADER]: '', [GEOLOCATION_ROUTING_HEADER]: '', [LOCATION_HEADER]: this.config.site.dispatchableLocation }
        } else {
          const multipart = withLocation(req.body, req.has('Content-Type') ? req.get('Content-Type') : 'application/sdp', location, `flexseat-${randomBytes(12).toString('hex')}`)
          body = { content: multipart.body, contentType: multipart.contentType }
        }
      }
      BackToBackCall.start({
        srf: this.#srf,
        req,
        res,
        destination: decision.destinations[0]!,
        headers,
        logger,
        ...(seat === undefined ? {} : { seated: { seat, ringing: this.#ringing } }),
        ...(decision.target === 'phone' ? { pickable: this.#pickable } : {}),
        ...(body === undefined ? {} : { body }),
        ...(outcome === undefined ? {} : { outcome }),
      })
      return
    }
    // Record-Route: in-dialog requests (ACK, BYE, re-INVITE) follow the same path through the
    // engine, whichever way the phones' Contacts point (NAT, the trunk).
    req.proxy({ destination: decision.destinations, remainInDialog: true }).then(
      (result) => logger.debug({ connected: result.connected, status: result.finalStatus }, 'call proxied'),
      (error: unknown) => logger.warn({ err: error }, 'proxy failed'),
    )
  }

  /**
   * A directed pickup (pickup.ts): the call named by `Replaces` (or ringing for the extension of
   * the pickup code `**<extension>`) is taken here when it rings a phone of this node; a phone's
   * pickup of a call ringing at another branch is forwarded there over the trunk (once: a trunk
   * pickup is never forwarded again). 481 when nothing rings by that name.
   */
  async #pickup(req: SrfRequest, res: SrfResponse, admission: Admission, user: string, logger: Logger): Promise<void> {
    // BroadWorks' rule for host phones, as for a call (call-router.ts): an idle flex desk is for
    // emergencies and signing in; taking someone's call is neither.
    if (admission.source === 'phone' && admission.device.flexHost && this.router.actingSeat(admission.device) === undefined) {
      return res.send(403, `Sign in with ${this.config.site.featureCodes.login} to call`)
    }
    let callId: string | undefined
    let callerTag = ''
    if (req.has('Replaces')) {
      const target = parseReplaces(req.get('Replaces'))
      if (target === undefined) return res.send(400, 'Bad Replaces')
      callId = target.callId
    } else {
      const extension = parsePickupCode(user) as string
      const worker = await this.#directory.userByExtension(extension)
      const desk = worker === undefined ? await this.#directory.deviceByExtension(extension) : undefined
      const ringing = worker !== undefined ? this.#dialogs.ringingFor(userKey(worker.id)) : desk !== undefined ? this.#dialogs.ringingFor(deviceKey(desk.id)) : undefined
      callId = ringing?.callId
      callerTag = ringing?.callerTag ?? ''
    }
    const local = callId === undefined ? undefined : this.#pickable.get(callId)
    if (local !== undefined) {
      logger.info({ pickup: callId }, 'directed pickup')
      await local.pickUp(req, res, undefined)
      return
    }
    const deskId = callId === undefined || admission.source !== 'phone' ? undefined : this.#dialogs.ringingDesk(callId)
    const desk = deskId === undefined ? undefined : await this.#directory.device(deskId)
    if (callId === undefined || admission.source !== 'phone' || desk === undefined || desk.siteId === this.config.site.id || desk.extension === '') {
      logger.info({ pickup: callId ?? null, to: user }, 'directed pickup: nothing rings by that name')
      return res.send(481, 'Call Does Not Exist')
    }
    const route = this.router.pickupOverTrunk(admission.device, desk.siteId, desk.extension, req.get('Call-ID'))
    if (route.kind !== 'proxy') return res.send(route.status, route.reason)
    const replaces = req.has('Replaces') ? req.get('Replaces') : `${callId};to-tag=${standInTag(callId)};from-tag=${callerTag === '' ? standInTag(`caller ${callId}`) : callerTag};early-only`
    logger.info({ pickup: callId, site: desk.siteId, device: desk.id }, 'directed pickup forwarded to the branch where the call rings')
    BackToBackCall.start({ srf: this.#srf, req, res, destination: route.destinations[0]!, headers: { ...withTraceContext(route.headers), Replaces: replaces }, logger })
  }

  /** The call list's record keeping of a call from `device` (call-log.ts). */
  #callLog(req: SrfRequest, device: Device, startedAt: number, facts: NonNullable<RouteDecision['call']>): CallLog {
    return new CallLog(
      this.#calls,
      { siteId: this.config.site.id, callId: req.get('Call-ID'), fromTag: fromTagOf(req), startedAt, phone: { number: device.extension === '' ? device.id : device.extension, name: device.label }, deviceId: device.id },
      facts,
      Date.now,
      this.#activity,
    )
  }

  async #feature(req: SrfRequest, res: SrfResponse, device: Device, code: FeatureCode): Promise<void> {
    const from = req.get('From') ?? ''
    const invite = { callId: req.get('Call-ID'), cseq: (req.get('CSeq') ?? '').trim().split(/\s+/)[0] ?? '', fromTag: /;\s*tag=([^;>\s]+)/i.exec(from)?.[1] ?? '' }
    const answered = this.#answers.begin(device.id)
    let reply: Awaited<ReturnType<FeatureHandler['run']>>
    try {
      reply = await this.#features.run(code, device, invite)
      trace.getActiveSpan()?.setAttribute('sip.status', reply.status)
      // The dialled string is logged masked: it carries the PIN.
      this.#logger.info({ device: device.id, callId: invite.callId, dialled: maskUri(req.uri, this.config.site.featureCodes), status: reply.status, reason: reply.reason }, 'feature code')
      res.send(reply.status, reply.reason, { headers: reply.headers })
    } finally {
      answered()
    }
    if (reply.message !== undefined) void this.#messenger.send(device.id, reply.message)
  }
}

/** The tracer of the node's spans. */
const TRACER = '@flexseat/sip-node'

/**
 * `headers` of an INVITE to another branch (it carries the trunk signature), with the active
 * trace context (`traceparent`), so that a call routed between branches is one trace; other
 * headers unchanged (a phone gets no trace context). Not covered by the trunk signature: it only
 * names a trace.
 */
function withTraceContext(headers: Record<string, string>): Record<string, string> {
  return headers[TRUNK_HEADER] === undefined ? headers : { ...headers, ...traceHeaders() }
}

/** The From tag of a request ('' without one). */
function fromTagOf(req: SrfRequest): string {
  return /;\s*tag=([^;>\s]+)/i.exec(req.get('From') ?? '')?.[1] ?? ''
}

/** `work`, or nothing after `ms`: the timer does not hold the process. */
async function settleWithin(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms)
    timer.unref()
  })
  try {
    await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * With a state folder: records this process as the branch's node on this host and, when the
 * process recorded before it is dead (a crash), releases that process' confirmation lease, so
 * that this one is granted the lease at once instead of after it expires (previous-node.ts).
 * Never fails the start: without the release the node waits for the lease as before.
 */
async function takeOverFromDeadPredecessor(config: SipNodeConfig, client: RegistryClient, logger: Logger): Promise<void> {
  let previous: PreviousNode
  try {
    previous = await claimNodeRecord(config.stateDir as string, { siteId: config.site.id, nodeId: config.nodeId })
  } catch (error) {
    logger.warn({ err: error, stateDir: config.stateDir }, 'could not record this node in its state folder: a restart after a crash waits for the lease')
    return
  }
  if (previous.kind === 'alive') logger.warn({ previous: previous.nodeId, pid: previous.pid }, 'the process recorded before this one may still run: its lease is left to expire')
  if (previous.kind !== 'dead') return
  // The cluster may be electing a registry leader right now (a host restart brings everything
  // back at once): retry what may pass later, for about as long as a lease lasts anyway.
  for (let attempt = 1; ; attempt += 1) {
    try {
      await client.releaseLease({ siteId: config.site.id, nodeId: previous.nodeId })
      logger.info({ previous: previous.nodeId, pid: previous.pid }, 'released the lease of the previous process of this node (it is dead)')
      return
    } catch (error) {
      if (!(error instanceof RegistryCallError) || !error.retryable || attempt >= RELEASE_ATTEMPTS) {
        logger.warn({ err: error, previous: previous.nodeId }, "could not release the previous process' lease: waiting for it to expire")
        return
      }
      await new Promise((resolve) => setTimeout(resolve, RELEASE_RETRY_MS).unref())
    }
  }
}

/** Attempts to release a dead predecessor's lease, {@link RELEASE_RETRY_MS} apart. */
const RELEASE_ATTEMPTS = 20
const RELEASE_RETRY_MS = 500

/**
 * Applies seat changes to this branch's phones: stops the calls still ringing a phone for a
 * worker who left it, acknowledges every revocation of a seat that left one of the branch's
 * phones (moved, bumped, released), and tells the phones what happened
 * (packages/sip-node/README.md, "Seat-driven MESSAGEs").
 *
 * Per batch of changes, in this order: the view has applied it (routing and identity read the
 * view, so no new call rings the old phone); the calls ringing for those workers anywhere but
 * their current active seat are stopped (their final responses and CANCELs are handed to the
 * engine before anything else is sent); the acknowledgement goes out; then, a macrotask later
 * (once grpc-js has handed the acknowledgement to its socket: the takeover at the other branch
 * waits for it, while the phones' requests went out first and held it up by several ms), every
 * phone whose seat changed gets a `check-sync` NOTIFY (it fetches its provisioning file: the
 * worker's keys, or the desk's own again) and the display texts.
 * So by the time a takeover at another branch completes, the old phone neither rings for the
 * worker nor presents the worker (invariant 4). The same holds when the lease is lost: every
 * ringing call is stopped before the phones are told. A failed ack is logged only: the next
 * lease renewal carries the applied revision, which acknowledges it too. A batch of more than
 * {@link MAX_ACKS} revocations (a thousand workers moved away at once) is acknowledged in several
 * calls.
 */
import { contextFromHeaders, inSpan } from '@flexseat/telemetry'
import { type Context, context as otelContext, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api'
import type { SiteConfig } from '@flexseat/config'
import { type AckRevocationsRequest, type Device, MAX_ACKS, type PhoneVendor, ReleaseReason, type Seat } from '@flexseat/proto'
import type { Logger } from 'pino'
import { signedInText } from './feature-replies'
import type { RingingCall, RingingStop } from './ringing-calls'
import { isActive, type SeatChange } from './seat-view'

/** What the notifier needs of the seat view. */
export interface NotifierSeats {
  readonly ready: boolean
  byUser(userId: string): Seat | undefined
  byDevice(deviceId: string): Seat | undefined
  atSite(siteId: string): Seat[]
  on(event: 'changes', listener: (changes: SeatChange[], revision: string) => void): unknown
  off(event: 'changes', listener: (changes: SeatChange[], revision: string) => void): unknown
}

/** What the notifier needs of the confirmation lease. */
export interface NotifierLease {
  readonly active: boolean
  on(event: 'active', listener: () => void): unknown
  on(event: 'suspended', listener: (reason: string) => void): unknown
  off(event: 'active', listener: () => void): unknown
  off(event: 'suspended', listener: (reason: string) => void): unknown
}

/** What the notifier needs of the ringing calls (ringing-calls.ts). */
export interface NotifierRinging {
  stopUser(userId: string, why: (call: RingingCall) => RingingStop, keepDeviceId?: string): Promise<void>
  stopAll(why: RingingStop): Promise<void>
}

/** Options of {@link SeatNotifier.start}. */
export interface SeatNotifierOptions {
  site: SiteConfig
  sites: ReadonlyMap<string, SiteConfig>
  nodeId: string
  view: NotifierSeats
  lease: NotifierLease
  directory: { device(id: string): Promise<Device | undefined> }
  messenger: {
    send(deviceId: string, text: string): Promise<void>
    /** Makes the phone fetch its provisioning file (none sent when absent). */
    checkSync?(deviceId: string, vendor: PhoneVendor | undefined): Promise<void>
  }
  client: { ackRevocations(request: AckRevocationsRequest): Promise<void> }
  /** Calls ringing phones for workers (none when absent). */
  ringing?: NotifierRinging
  /**
   * The desks' feature codes in flight (desk-answers.ts): what a desk is sent waits until its
   * `*51` is answered (none when absent).
   */
  answers?: { settled(deviceId: string): Promise<void> }
  logger: Logger
  /** The wall clock (default Date.now), for the delay of a move since the registry committed it. */
  now?: () => number
  /** Where revocation latencies are recorded (node-metrics.ts; none when absent). */
  metrics?: { revocation(stage: 'applied' | 'told', ms: number): void }
}

/** Why a seat left one of the branch's phones, as logged in `seat revoked`. */
export type RevocationReason = 'moved' | 'bumped' | 'logout' | 'expired' | 'time-limit' | 'daily' | 'idle' | 'admin' | 'deleted' | 'directory' | 'resync'

const REASONS: Partial<Record<ReleaseReason, RevocationReason>> = {
  [ReleaseReason.RELEASE_REASON_LOGOUT]: 'logout',
  [ReleaseReason.RELEASE_REASON_MOVED]: 'moved',
  [ReleaseReason.RELEASE_REASON_BUMPED]: 'bumped',
  [ReleaseReason.RELEASE_REASON_EXPIRED]: 'expired',
  [ReleaseReason.RELEASE_REASON_TIME_LIMIT]: 'time-limit',
  [ReleaseReason.RELEASE_REASON_DAILY]: 'daily',
  [ReleaseReason.RELEASE_REASON_IDLE]: 'idle',
  [ReleaseReason.RELEASE_REASON_ADMIN]: 'admin',
  [ReleaseReason.RELEASE_REASON_DELETED]: 'deleted',
  [ReleaseReason.RELEASE_REASON_DIRECTORY]: 'directory',
}

/** A seat that left one of the branch's phones; `delayMs`: for a move, since the registry wrote it. */
/** `traceParent`: the trace of the sign-in that moved the seat away (the registry stores it with the pending revocation). */
type Revoked = { seat: Seat; reason: RevocationReason; delayMs?: number; traceParent?: string }

/**
 * A display text for a device, computed once the directory answered; `sent` once it was sent (or
 * failed). `revoked`: it tells the phone a seat left it, so its MESSAGE is sent in the context of
 * the revocation's apply span (`context`, set once that span exists).
 */
type Note = { deviceId: string; text: () => Promise<string>; sent?: () => void; revoked?: true; context?: Context }

/**
 * Listens to the view and the lease (see the file comment). State: listening from
 * {@link start} until {@link stop}.
 */
export class SeatNotifier {
  readonly #o: SeatNotifierOptions
  // The first batch of a view that was not ready at start is the initial snapshot: every seat
  // arrives as "seated", and announcing them all again after a node restart would be noise. An
  // empty snapshot emits no batch at all, so readiness is also watched (every 50 ms) to prime.
  #primed: boolean
  #primeWatch: NodeJS.Timeout | undefined
  #suspended = false
  #work: Promise<void> = Promise.resolve()
  #syncs: Promise<void> = Promise.resolve()
  readonly #onChanges = (changes: SeatChange[]): void => this.#changes(changes)
  readonly #onActive = (): void => this.#leaseActive()
  readonly #onSuspended = (): void => this.#leaseSuspended()

  private constructor(options: SeatNotifierOptions) {
    this.#o = options
    this.#primed = options.view.ready
    if (!this.#primed) {
      this.#primeWatch = setInterval(() => {
        if (!options.view.ready) return
        this.#primed = true
        this.#stopPrimeWatch()
      }, 50)
      this.#primeWatch.unref()
    }
  }

  #stopPrimeWatch(): void {
    if (this.#primeWatch !== undefined) clearInterval(this.#primeWatch)
    this.#primeWatch = undefined
  }

  /** Starts listening. */
  static start(options: SeatNotifierOptions): SeatNotifier {
    const notifier = new SeatNotifier(options)
    options.view.on('changes', notifier.#onChanges)
    options.lease.on('active', notifier.#onActive)
    options.lease.on('suspended', notifier.#onSuspended)
    return notifier
  }

  /** Resolves once every notification queued so far has been sent (or failed). */
  idle(): Promise<void> {
    return Promise.all([this.#work, this.#syncs]).then(() => undefined)
  }

  /**
   * Stops listening. Queued display texts are left to finish on their own: a phone that does not
   * answer must not hold up a shutdown (see {@link idle} to wait for them). Idempotent.
   */
  stop(): void {
    this.#stopPrimeWatch()
    this.#o.view.off('changes', this.#onChanges)
    this.#o.lease.off('active', this.#onActive)
    this.#o.lease.off('suspended', this.#onSuspended)
  }

  #changes(changes: SeatChange[]): void {
    const here = this.#o.site.id
    if (!this.#primed) {
      this.#primed = true
      this.#stopPrimeWatch()
      return
    }
    this.#stopRinging(changes)
    const revoked: Revoked[] = []
    const leaving: Note[] = []
    const arriving: Note[] = []
    const profiles: string[] = []
    for (const change of changes) {
      if (change.kind === 'seated') {
        const { seat, previous } = change
        // Moved to another phone, or the phone itself was moved to another site by an administrator:
        // either way this branch no longer acts for the worker there.
        if (previous !== undefined && previous.siteId === here && (previous.deviceId !== seat.deviceId || seat.siteId !== here)) {
          // The registry wrote the move with this branch pending since that instant (its clock):
          // the revocation's delay, commit to applied here, across clocks of one cluster.
          const entry = seat.pending.find((p) => p.siteId === here)
          const since = entry?.since
          const delayMs = since === undefined ? undefined : this.#msSince(since)
          const traceParent = entry?.traceParent || undefined
          revoked.push({ seat: previous, reason: 'moved', ...(delayMs === undefined ? {} : { delayMs }), ...(traceParent === undefined ? {} : { traceParent }) })
          leaving.push({
            deviceId: previous.deviceId,
            text: () => this.#movedText(previous.extension, seat),
            revoked: true,
            ...(since === undefined ? {} : { sent: () => this.#o.metrics?.revocation('told', this.#msSince(since)) }),
          })
        }
        const becameActive = previous === undefined || previous.deviceId !== seat.deviceId || !isActive(previous)
        if (seat.siteId === here && isActive(seat) && becameActive) {
          this.#o.logger.info({ user: seat.userId, device: seat.deviceId, epoch: seat.epoch, lease: this.#o.lease.active }, 'seat active')
          // Usually the desk's own sign-in: its text waits until the desk's `*51` is answered.
          if (this.#o.lease.active) arriving.push({ deviceId: seat.deviceId, text: async () => (await this.#o.answers?.settled(seat.deviceId), signedInText(seat.extension, seat.displayName)) })
        } else if (seat.siteId === here && isActive(seat) && previous !== undefined && (previous.extension !== seat.extension || previous.displayName !== seat.displayName)) {
          // The worker's number or name changed while seated (the directory or an administrator
          // changed the user): the seat stays, and the desk shows the new number.
          this.#o.logger.info({ user: seat.userId, device: seat.deviceId, epoch: seat.epoch, extension: seat.extension }, 'seated worker renumbered')
          if (this.#o.lease.active) arriving.push({ deviceId: seat.deviceId, text: async () => signedInText(seat.extension, seat.displayName) })
        } else if (seat.siteId === here && previous !== undefined && previous.deviceId === seat.deviceId && seat.profileChangedAt?.getTime() !== previous.profileChangedAt?.getTime()) {
          // What the desk shows changed while the worker sits there (their keys, label or language):
          // the phone fetches its file again; nothing to say on its display.
          this.#o.logger.info({ user: seat.userId, device: seat.deviceId }, 'seated worker\'s desk profile changed')
          if (this.#o.lease.active) profiles.push(seat.deviceId)
        }
        continue
      }
      const { seat, reason } = change
      if (seat.siteId !== here) continue
      const why = REASONS[reason] ?? 'resync'
      revoked.push({ seat, reason: why })
      leaving.push({ deviceId: seat.deviceId, text: () => this.#releasedText(seat, why), revoked: true })
    }
    if (revoked.length > 0) {
      const applied = this.#acknowledge(revoked)
      for (const note of leaving) if (note.revoked === true) note.context = applied
    }
    const contexts = new Map(leaving.flatMap((note) => (note.context === undefined ? [] : [[note.deviceId, note.context] as const])))
    this.#checkSync([...new Set([...leaving, ...arriving].map((note) => note.deviceId).concat(profiles))], contexts)
    // Departures first: on a phone where one worker bumps another, the display ends on the newcomer.
    this.#queue([...leaving, ...arriving])
  }

  // A phone rings for a worker only while the worker's seat on it is active: after any change of
  // a worker's seat, the calls ringing for them on any other phone (or on that phone, if the seat
  // is no longer active here) stop. "Signed in elsewhere" while the worker is seated (or pending)
  // at another phone, "is not signed in" once seated nowhere.
  #stopRinging(changes: SeatChange[]): void {
    const ringing = this.#o.ringing
    if (ringing === undefined) return
    for (const userId of new Set(changes.map((change) => change.seat.userId))) {
      const now = this.#o.view.byUser(userId)
      const keep = now !== undefined && isActive(now) && now.siteId === this.#o.site.id ? now.deviceId : undefined
      void ringing.stopUser(userId, (call) => (now !== undefined && now.deviceId !== call.deviceId ? 'moved' : 'signed-out'), keep)
    }
  }

  #msSince(since: Date): number {
    return Math.max(0, Math.round((this.#o.now ?? Date.now)() - since.getTime()))
  }

  // In a span of its own (`seat.revocation_apply`, a new trace: it applies a batch of watch
  // events), linked to the trace of each sign-in that moved a seat away (the traceparent the
  // registry stored with the pending revocation); its children are the acknowledgement
  // (`seat.revocation_ack`, whose child is the registry's `registry.AckRevocations`), the
  // MESSAGEs telling the phones and the `check-sync` NOTIFYs that make them fetch their files
  // again (`sip.message`, `sip.notify`, phone-messenger.ts). Returns the span's context.
  #acknowledge(revoked: Revoked[]): Context {
    let applied: Context = ROOT_CONTEXT
    const attributes = { 'flexseat.revocations': revoked.length, 'flexseat.users': revoked.map(({ seat }) => seat.userId) }
    const links = revoked.flatMap(({ traceParent }) => {
      const linked = traceParent === undefined ? undefined : trace.getSpanContext(contextFromHeaders((name) => (name === 'traceparent' ? traceParent : undefined), ROOT_CONTEXT))
      return linked === undefined ? [] : [{ context: linked }]
    })
    void inSpan(TRACER, 'seat.revocation_apply', { kind: SpanKind.CONSUMER, root: true, attributes, links }, async () => {
      // Runs synchronously up to its first await: `applied` is set when inSpan returns.
      applied = otelContext.active()
      for (const { seat, reason, delayMs } of revoked) {
        if (delayMs !== undefined) this.#o.metrics?.revocation('applied', delayMs)
        this.#o.logger.info({ user: seat.userId, device: seat.deviceId, epoch: seat.epoch, reason, ...(delayMs === undefined ? {} : { delayMs }) }, 'seat revoked')
      }
      // In calls of at most MAX_ACKS (the registry refuses more in one), one after the other.
      const revocations = revoked.map(({ seat }) => ({ userId: seat.userId, epoch: seat.epoch }))
      for (let start = 0; start < revocations.length; start += MAX_ACKS) {
        const request: AckRevocationsRequest = { siteId: this.#o.site.id, nodeId: this.#o.nodeId, revocations: revocations.slice(start, start + MAX_ACKS) }
        const ack = { kind: SpanKind.CLIENT, attributes: { 'flexseat.revocations': request.revocations.length } }
        await inSpan(TRACER, 'seat.revocation_ack', ack, () => this.#o.client.ackRevocations(request)).catch((error: unknown) => {
          this.#o.logger.warn({ err: error, revocations: request.revocations.length }, 'revocation ack failed; the next lease renewal acknowledges it')
        })
      }
    }, ROOT_CONTEXT)
    return applied
  }

  // Every phone whose seat changed fetches its file again: the worker's keys and a Logout key
  // where a worker sat down, the desk's own keys and a Login key where one left. On a chain of
  // their own, so a display text waiting for a slow phone does not hold them up. A phone a seat
  // left is sent its NOTIFY in the context of the revocation's apply span (`contexts`).
  #checkSync(deviceIds: string[], contexts: ReadonlyMap<string, Context>): void {
    const checkSync = this.#o.messenger.checkSync?.bind(this.#o.messenger)
    if (checkSync === undefined || deviceIds.length === 0) return
    this.#syncs = this.#syncs.then(async () => {
      await nextMacrotask()
      await Promise.all(
        deviceIds.map(async (deviceId) => {
          // A desk whose feature code is in flight (its sign-in) gets its final response first.
          await this.#o.answers?.settled(deviceId)
          let vendor: PhoneVendor | undefined
          try {
            vendor = (await this.#o.directory.device(deviceId))?.vendor
          } catch {
            // The directory is unreachable: the generic variant still reaches most phones.
          }
          await otelContext.with(contexts.get(deviceId) ?? ROOT_CONTEXT, () => checkSync(deviceId, vendor))
        }),
      )
    })
  }

  #leaseSuspended(): void {
    void this.#o.ringing?.stopAll('offline')
    this.#suspended = true
    const seats = this.#o.view.atSite(this.#o.site.id).filter(isActive)
    this.#queue(seats.map((seat) => ({ deviceId: seat.deviceId, text: async () => 'Flex sign-in suspended: branch offline' })))
  }

  #leaseActive(): void {
    if (!this.#suspended) return
    this.#suspended = false
    const seats = this.#o.view.atSite(this.#o.site.id).filter(isActive)
    this.#queue(seats.map((seat) => ({ deviceId: seat.deviceId, text: async () => `Signed in as ${seat.extension} again` })))
  }

  // Sent in order, one after another, so a phone's display ends on the latest state.
  #queue(notes: Note[]): void {
    if (notes.length === 0) return
    this.#work = this.#work.then(async () => {
      await nextMacrotask()
      for (const note of notes) {
        try {
          const text = await note.text()
          await otelContext.with(note.context ?? ROOT_CONTEXT, () => this.#o.messenger.send(note.deviceId, text))
        } catch (error) {
          this.#o.logger.warn({ err: error, device: note.deviceId }, 'seat notification failed')
        }
        note.sent?.()
      }
    })
  }

  async #movedText(extension: string, seat: Seat): Promise<string> {
    return `${extension} signed out: signed in at ${await this.#where(seat)}`
  }

  async #releasedText(seat: Seat, why: RevocationReason): Promise<string> {
    switch (why) {
      case 'moved': {
        const now = this.#o.view.byUser(seat.userId)
        return now === undefined ? `${seat.extension} signed out` : this.#movedText(seat.extension, now)
      }
      case 'bumped': {
        const occupant = this.#o.view.byDevice(seat.deviceId)
        return occupant === undefined ? `${seat.extension} signed out` : `${seat.extension} signed out: ${occupant.extension} signed in at this phone`
      }
      case 'admin':
        return `${seat.extension} signed out by an administrator`
      case 'expired':
        return `${seat.extension} signed out: time limit reached`
      // Sign-out policies (issue 19): the rule that ended the seat, as the seat recorded it.
      case 'time-limit':
        return seat.expiresAt === undefined || seat.since === undefined
          ? `${seat.extension} signed out: time limit reached`
          : // A renewed seat's limit ran from its renewal (RenewSeat), not from its start.
            `${seat.extension} signed out: time limit ${durationText(seat.expiresAt.getTime() - (seat.renewedAt ?? seat.since).getTime())}`
      case 'daily':
        return seat.dailySignOut === '' ? `${seat.extension} signed out: daily sign-out` : `${seat.extension} signed out: daily sign-out ${seat.dailySignOut.slice(0, 5)}`
      case 'idle':
        return `${seat.extension} signed out: idle ${durationText(seat.idleSeconds * 1_000)}`
      case 'directory':
        return `${seat.extension} signed out by the directory`
      default:
        return `${seat.extension} signed out`
    }
  }

  // "Berlin, desk-3": the site's name and the device's label (or id).
  async #where(seat: Seat): Promise<string> {
    const site = this.#o.sites.get(seat.siteId)?.name ?? seat.siteId
    let label = seat.deviceId
    try {
      const device = await this.#o.directory.device(seat.deviceId)
      if (device !== undefined && device.label !== '') label = device.label
    } catch {
      // The directory is unreachable: the id still tells the worker where.
    }
    return `${site}, ${label}`
  }
}

/**
 * Resolves in the event loop's next check phase: after the native immediates that write what
 * http2 (grpc-js) queued in this turn, such as a revocation's acknowledgement.
 */
function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** A span of time as a desk shows it: "8 h", "30 min", or seconds ("3 s") below a minute or when not whole. */
export function durationText(ms: number): string {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000} h`
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`
  return `${Math.round(ms / 1_000)} s`
}

/** The tracer of the node's spans. */
const TRACER = '@flexseat/sip-node'

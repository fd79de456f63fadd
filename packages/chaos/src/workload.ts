import { randomUUID } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js'
import { type Seat, SeatEventType, serverStream, unary, type WatchSeatsResponse } from '@flexseat/proto'
import { type DialOutcome, headerOf, SippPhone, seededRandom } from '@flexseat/sim'
import { featureRequestId } from '@flexseat/sip-node'
import type { CallLine, HistoryOp, JsonLines, WatchLine } from './records'
import type { ChaosCluster, ChaosDevice, ChaosWorker } from './topology'
import { pause } from './process-output'

/** Options of {@link Workload.start}. */
export interface WorkloadOptions {
  /** Seed of the workload's choices (workers, desks, think times). */
  seed: number
  /** Mean pause between two operations of one client, in ms (default 400; each pause is uniform 0.25x..1.75x). */
  thinkMs?: number
  /** Deadline of a gRPC write (default 5 000 ms) and read (default 3 000 ms). */
  writeTimeoutMs?: number
  readTimeoutMs?: number
  /** Place calls to the workers from every branch's fixed phone (default true). */
  calls?: boolean
}

/** Where the workload writes. */
export interface WorkloadSinks {
  history: JsonLines<HistoryOp>
  watch: JsonLines<WatchLine>
  calls: JsonLines<CallLine>
}

/**
 * The clients of a chaos run, all at once, each doing one operation at a time until stopped:
 * - per SIP desk (two per branch) a desk phone (sipp) that signs a worker of the hot set in with
 *   `*51*ext*pin`, or signs out with `*51` the worker it signed in there;
 * - per branch a gRPC client (admin token) that sits a worker at a gRPC desk of any branch
 *   (Login) or signs one out (Logout by user id), through its own branch's registry;
 * - per branch a reader (GetSeat by user id) and a watcher (WatchSeats, resumed from the last
 *   revision after any break);
 * - per branch the fixed phone calling the workers' extensions (calls.jsonl).
 * Every gRPC desk has a phone registered and answering too, so that what desks are told and what
 * rings there is recorded (phones.jsonl, {@link phoneLines}).
 */
export class Workload {
  readonly #cluster: ChaosCluster
  readonly #sinks: WorkloadSinks
  readonly #options: Required<WorkloadOptions>
  readonly #random: () => number
  readonly #phones = new Map<string, SippPhone>()
  readonly #loops: Promise<void>[] = []
  readonly #inFlight = new Map<string, HistoryOp>()
  readonly #stop = new AbortController()
  readonly #watchers: { client: { close(): void } }[] = []

  private constructor(cluster: ChaosCluster, sinks: WorkloadSinks, options: WorkloadOptions) {
    this.#cluster = cluster
    this.#sinks = sinks
    this.#options = { thinkMs: 400, writeTimeoutMs: 5_000, readTimeoutMs: 3_000, calls: true, ...options }
    this.#random = seededRandom(options.seed)
    // Every client waits on the stop signal while it pauses (one listener each, removed after).
    setMaxListeners(1_000, this.#stop.signal)
  }

  /** Registers every phone, then starts every client. */
  static async start(cluster: ChaosCluster, sinks: WorkloadSinks, options: WorkloadOptions): Promise<Workload> {
    const workload = new Workload(cluster, sinks, options)
    try {
      for (const branch of cluster.branches) {
        for (const device of branch.devices) {
          const phone = await SippPhone.register({ deviceId: device.id, password: device.password, domain: branch.domain, registrar: `127.0.0.1:${branch.sipPort}` })
          workload.#phones.set(device.id, phone)
        }
      }
    } catch (error) {
      await workload.#stopPhones()
      throw error
    }
    for (const branch of cluster.branches) {
      workload.#watch(branch.id)
      for (const device of branch.devices) {
        if (device.role === 'sip-desk') workload.#loops.push(workload.#sipDesk(device))
        if (device.role === 'caller' && workload.#options.calls) workload.#loops.push(workload.#caller(device))
      }
      workload.#loops.push(workload.#grpcWriter(branch.id), workload.#reader(branch.id))
    }
    return workload
  }

  /** Operations invoked and not completed yet. */
  get inFlight(): number {
    return this.#inFlight.size
  }

  /**
   * Stops invoking, waits up to `graceMs` (default 25 000) for what is in flight, writes what
   * never completed (completeMs null, outcome info), ends the watches. The phones keep answering
   * until {@link stopPhones} (their logs are read first).
   */
  async stop(graceMs = 25_000): Promise<void> {
    this.#stop.abort()
    const settled = Promise.all(this.#loops)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([settled, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))])
    clearTimeout(timer)
    for (const op of this.#inFlight.values()) this.#sinks.history.write({ ...op, completeMs: null, outcome: 'info', error: 'never completed before the run ended' })
    this.#inFlight.clear()
    for (const watcher of this.#watchers) watcher.client.close()
  }

  /** The phones of the run, by device id (for reading what they received). */
  get phones(): ReadonlyMap<string, SippPhone> {
    return this.#phones
  }

  /** Stops every phone's sipp (and removes its logs). */
  async stopPhones(): Promise<void> {
    await this.#stopPhones()
  }

  async #stopPhones(): Promise<void> {
    await Promise.all([...this.#phones.values()].map((phone) => phone.stop().catch(() => undefined)))
    this.#phones.clear()
  }

  get #stopped(): boolean {
    return this.#stop.signal.aborted
  }

  #pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.#random() * list.length)]!
  }

  async #think(): Promise<void> {
    const ms = this.#options.thinkMs * (0.25 + 1.5 * this.#random())
    const signal = this.#stop.signal
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
    })
  }

  #begin(op: Omit<HistoryOp, 'completeMs' | 'outcome'>): HistoryOp {
    const started: HistoryOp = { ...op, completeMs: null, outcome: 'info' }
    this.#inFlight.set(op.id, started)
    return started
  }

  #complete(op: HistoryOp, end: Partial<HistoryOp> & Pick<HistoryOp, 'outcome'>): void {
    if (!this.#inFlight.delete(op.id)) return
    if (end.outcome === 'ok' && op.kind !== 'read') this.#lastOkWriteInvokeMs = Math.max(this.#lastOkWriteInvokeMs, op.invokeMs)
    this.#sinks.history.write({ ...op, completeMs: Date.now(), ...end })
  }

  #lastOkWriteInvokeMs = 0

  /** Whether a write invoked at or after `ms` has completed ok (the system serves again after a fault). */
  okWriteSince(ms: number): boolean {
    return this.#lastOkWriteInvokeMs >= ms
  }

  /** A desk phone signing workers in and out with `*51` (see the class comment). */
  async #sipDesk(device: ChaosDevice): Promise<void> {
    const phone = this.#phones.get(device.id)!
    const process = `sip:${device.siteId}:${device.label}`
    const workers = this.#cluster.workers
    /** The worker this desk signed in last (ok or indeterminate) and has not seen leave. */
    let believed: ChaosWorker | undefined
    while (!this.#stopped) {
      await this.#think()
      if (this.#stopped) break
      const logout = believed !== undefined && this.#random() < 0.5
      const worker = logout ? believed! : this.#pick(workers)
      const number = logout ? '*51' : `*51*${worker.extension}*${worker.pin}`
      const op = this.#begin({ id: `sip-${randomUUID()}`, process, kind: logout ? 'logout' : 'login', userId: worker.id, deviceId: device.id, via: 'sip', invokeMs: Date.now() })
      let dial: DialOutcome | undefined
      let failure: string | undefined
      try {
        dial = await phone.dial(number)
      } catch (error) {
        failure = (error as Error).message
      }
      if (dial === undefined) {
        // sipp got no final response within its timeout: the INVITE may have been handled.
        this.#inFlight.delete(op.id)
        this.#sinks.history.write({ ...op, completeMs: null, outcome: 'info', error: failure ?? 'no final response' })
        continue
      }
      const callId = dial.messages.find((m) => m.direction === 'sent')?.headers.find((h) => /^call-id:/i.test(h))?.replace(/^call-id:\s*/i, '')
      const line = `${dial.status} ${dial.reason}`
      const requestIds = dialRequestIds(logout ? ['logout'] : ['login', 'renew'], device.id, dial)
      const at = { completeMs: Math.round(dial.finalAt), ...(callId === undefined ? {} : { callId }), ...(requestIds.length === 0 ? {} : { requestIds }) }
      const signedIn = /^Signed in as (\d+)/.exec(dial.reason)
      const signedOut = /^Signed out (\d+)/.exec(dial.reason)
      const overtaken = /^(\d+) signed in elsewhere$/.exec(dial.reason)
      if (dial.status === 480 && (signedIn !== null || dial.reason.startsWith('Seat renewed'))) {
        const seated = signedIn === null ? worker : (workers.find((w) => w.extension === signedIn[1]) ?? worker)
        believed = seated
        this.#complete(op, { ...at, userId: seated.id, outcome: 'ok', result: { deviceId: device.id } })
      } else if (dial.status === 480 && overtaken !== null) {
        // The sign-in committed here, then a later change took the worker away again before the
        // node answered (sip-node's feature-handler.ts): the login took effect at this desk.
        const seated = workers.find((w) => w.extension === overtaken[1]) ?? worker
        believed = undefined
        this.#complete(op, { ...at, userId: seated.id, outcome: 'ok', result: { deviceId: device.id } })
      } else if (dial.status === 480 && signedOut !== null) {
        const left = workers.find((w) => w.extension === signedOut[1])
        believed = undefined
        this.#complete(op, { ...at, userId: left?.id ?? worker.id, outcome: 'ok' })
      } else if (dial.status === 403 && /Nobody signed in here/.test(dial.reason)) {
        // Nobody sat here: the `*51` changed nothing (the worker may sit elsewhere).
        believed = undefined
        this.#complete(op, { ...at, outcome: 'fail', error: line })
      } else if (dial.status >= 400 && dial.status < 500 && dial.status !== 408) {
        // The node refused before any write (wrong PIN, locked, not signed in here...).
        this.#complete(op, { ...at, outcome: 'fail', error: line })
      } else {
        // 503 Sign-in unavailable, 408, 5xx: the registry call may have taken effect.
        if (!logout) believed = worker
        this.#complete(op, { ...at, outcome: 'info', error: line })
      }
    }
  }

  /** A gRPC client sitting workers at gRPC desks and signing them out (admin token, no PIN). */
  async #grpcWriter(siteId: string): Promise<void> {
    const process = `grpc:${siteId}`
    const desks = this.#cluster.branches.flatMap((b) => b.devices.filter((d) => d.role === 'grpc-desk'))
    const metadata = this.#cluster.adminMetadata
    while (!this.#stopped) {
      await this.#think()
      if (this.#stopped) break
      const worker = this.#pick(this.#cluster.workers)
      const { seat } = this.#cluster.clients(siteId)
      const requestId = randomUUID()
      if (this.#random() < 0.6) {
        const desk = this.#pick(desks)
        const op = this.#begin({ id: requestId, process, kind: 'login', userId: worker.id, deviceId: desk.id, via: 'grpc', invokeMs: Date.now() })
        try {
          const response = await unary(seat.login.bind(seat), { requestId, deviceId: desk.id, extension: worker.extension, pin: '', durationHours: 0 }, { metadata, timeoutMs: this.#options.writeTimeoutMs })
          this.#complete(op, { outcome: 'ok', result: { deviceId: response.seat?.deviceId ?? desk.id, pending: response.seat?.pending.length ?? 0 } })
        } catch (error) {
          this.#complete(op, grpcFailure(error))
        }
      } else {
        const op = this.#begin({ id: requestId, process, kind: 'logout', userId: worker.id, deviceId: '', via: 'grpc', invokeMs: Date.now() })
        try {
          const response = await unary(seat.logout.bind(seat), { requestId, target: { $case: 'userId', value: worker.id }, reason: 0 }, { metadata, timeoutMs: this.#options.writeTimeoutMs })
          this.#complete(op, { outcome: 'ok', result: { deviceId: response.released?.deviceId ?? null } })
        } catch (error) {
          this.#complete(op, grpcFailure(error))
        }
      }
    }
  }

  /** GetSeat of a random worker through the branch's registry. */
  async #reader(siteId: string): Promise<void> {
    const process = `read:${siteId}`
    const metadata = this.#cluster.adminMetadata
    while (!this.#stopped) {
      await this.#think()
      if (this.#stopped) break
      const worker = this.#pick(this.#cluster.workers)
      const { seat } = this.#cluster.clients(siteId)
      const op = this.#begin({ id: `read-${randomUUID()}`, process, kind: 'read', userId: worker.id, deviceId: '', via: 'grpc', invokeMs: Date.now() })
      try {
        const response = await unary(seat.getSeat.bind(seat), { target: { $case: 'userId', value: worker.id } }, { metadata, timeoutMs: this.#options.readTimeoutMs })
        this.#complete(op, { outcome: 'ok', result: { deviceId: response.seat?.deviceId ?? null, pending: response.seat?.pending.length ?? 0 } })
      } catch (error) {
        // A read changes nothing: an unanswered one is simply a failed read.
        this.#complete(op, { ...grpcFailure(error), outcome: 'fail' })
      }
    }
  }

  /** The fixed phone of a branch calling the workers. */
  async #caller(device: ChaosDevice): Promise<void> {
    const phone = this.#phones.get(device.id)!
    const process = `call:${device.siteId}`
    while (!this.#stopped) {
      await this.#think()
      await this.#think()
      if (this.#stopped) break
      const worker = this.#pick(this.#cluster.workers)
      const invokeMs = Date.now()
      const id = `call-${randomUUID()}`
      try {
        const dial = await phone.dial(worker.extension)
        this.#sinks.calls.write({ id, process, from: device.id, extension: worker.extension, userId: worker.id, invokeMs, completeMs: Math.round(dial.finalAt), status: dial.status, reason: dial.reason })
      } catch (error) {
        this.#sinks.calls.write({ id, process, from: device.id, extension: worker.extension, userId: worker.id, invokeMs, completeMs: Date.now(), status: null, reason: (error as Error).message.slice(0, 200) })
      }
    }
  }

  /** WatchSeats on the branch's registry, resumed after the last revision whenever it breaks. */
  #watch(siteId: string): void {
    const client = this.#cluster.seatClient(siteId)
    this.#watchers.push({ client })
    const name = `watch:${siteId}`
    const metadata = this.#cluster.adminMetadata
    const sink = this.#sinks.watch
    const loop = async (): Promise<void> => {
      let after = 0
      let resumed = false
      while (!this.#stopped) {
        try {
          for await (const message of serverStream(client.watchSeats.bind(client), { afterRevision: String(after), siteId: '' }, { metadata, signal: this.#stop.signal })) {
            // The first line after a resume says so (reconnect: true).
            after = Math.max(after, watchLines(name, message, sink, resumed))
            resumed = false
          }
        } catch {
          // The stream broke (registry gone, etcd unreachable) or the run ends: resume below.
        }
        if (!this.#stopped) await pause(200)
        resumed = after > 0
      }
    }
    this.#loops.push(loop())
  }
}

/**
 * Writes one WatchSeats message as lines (the first marked `reconnect: true` when `resumed`: the
 * stream was opened again after the last revision received); returns its revision.
 */
function watchLines(client: string, message: WatchSeatsResponse, out: JsonLines<WatchLine>, resumed: boolean): number {
  const atMs = Date.now()
  const body = message.message
  if (body === undefined) return 0
  let mark = resumed
  const sink = {
    write(line: WatchLine): void {
      out.write(mark ? { ...line, reconnect: true } : line)
      mark = false
    },
  }
  if (body.$case === 'snapshot') {
    const revision = Number(body.value.revision)
    sink.write({ client, atMs, revision, userId: '', deviceId: null, type: `snapshot-${body.value.reason === 1 ? 'initial' : body.value.reason === 2 ? 'compacted' : 'ahead'}` })
    for (const seat of body.value.seats) sink.write({ client, atMs, revision, userId: seat.userId, deviceId: seat.deviceId, type: 'snapshot' })
    return revision
  }
  const revision = Number(body.value.revision)
  for (const event of body.value.events) {
    const seat: Seat | undefined = event.seat
    if (seat === undefined) continue
    const released = event.type === SeatEventType.SEAT_EVENT_TYPE_RELEASED
    sink.write({ client, atMs, revision: Number(event.revision), userId: seat.userId, deviceId: released ? null : seat.deviceId, type: released ? 'released' : seat.pending.length > 0 ? 'pending' : 'seated' })
  }
  return revision
}

/** The gRPC statuses that mean the registry refused before writing anything. */
const DEFINITE = new Set<number>([GrpcStatus.INVALID_ARGUMENT, GrpcStatus.NOT_FOUND, GrpcStatus.ALREADY_EXISTS, GrpcStatus.PERMISSION_DENIED, GrpcStatus.FAILED_PRECONDITION, GrpcStatus.UNAUTHENTICATED, GrpcStatus.RESOURCE_EXHAUSTED, GrpcStatus.OUT_OF_RANGE, GrpcStatus.UNIMPLEMENTED])

/**
 * A failed gRPC write: `fail` when the status says nothing was written (a refusal, or the call
 * never reached the registry), `info` otherwise (a timeout, UNAVAILABLE from the registry, ABORTED...).
 */
function grpcFailure(error: unknown): Pick<HistoryOp, 'outcome' | 'error'> {
  const code = (error as Partial<ServiceError>).code
  const name = code === undefined ? 'ERROR' : (GrpcStatus[code] ?? String(code))
  const text = `${name}: ${((error as Partial<ServiceError>).details ?? (error as Error).message ?? '').slice(0, 300)}`
  // grpc-js says "No connection established" when the call never left this process (the
  // registry's port refused it): nothing can have been written.
  const neverSent = code === GrpcStatus.UNAVAILABLE && /^No connection established/.test((error as Partial<ServiceError>).details ?? '')
  return { outcome: code !== undefined && (DEFINITE.has(code) || neverSent) ? 'fail' : 'info', error: text }
}

/**
 * The registry request ids a `*51` dial may have written under: the SIP node derives them from the
 * INVITE it handled (Call-ID, CSeq number, From tag; sip-node's featureRequestId), and the phone
 * sent one INVITE before its challenge and one after, so each INVITE sent gives its own.
 */
export function dialRequestIds(operations: readonly ('login' | 'logout' | 'renew')[], deviceId: string, dial: Pick<DialOutcome, 'messages'>): string[] {
  const ids: string[] = []
  for (const message of dial.messages) {
    if (message.direction !== 'sent' || !message.startLine.startsWith('INVITE ')) continue
    const callId = headerOf(message, 'Call-ID')
    const cseq = headerOf(message, 'CSeq')?.split(/\s+/)[0]
    const fromTag = /;\s*tag=([^;>\s]+)/i.exec(headerOf(message, 'From') ?? '')?.[1]
    if (callId === undefined || cseq === undefined || fromTag === undefined) continue
    for (const operation of operations) {
      const id = featureRequestId(operation, deviceId, { callId, cseq, fromTag })
      if (!ids.includes(id)) ids.push(id)
    }
  }
  return ids
}

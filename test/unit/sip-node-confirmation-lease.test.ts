import { Metadata, status } from '@grpc/grpc-js'
import t from 'tap'
import pino from 'pino'
import { ErrorCode, ErrorDetail, type RenewLeaseRequest, type RenewLeaseResponse, type WatchSeatsResponse } from '@flexseat/proto'
import { ConfirmationLease, RegistryCallError, SeatView } from '@flexseat/sip-node'
// validUntil and renewDeadline are not (yet) exported by the package's index.ts.
import { renewDeadline, validUntil } from '@flexseat/sip-node/dist/confirmation-lease'

// The node's own clock logic of the confirmation lease, against a scripted RegistryClient (a
// fake only here: the lease against the real registry is test/integration/sip-node-cluster-lease.test.ts).

const logger = pino({ level: 'silent' })
const snapshot = (revision: string): WatchSeatsResponse => ({ message: { $case: 'snapshot', value: { reason: 1, seats: [], revision } } })
const changes = (revision: string): WatchSeatsResponse => ({ message: { $case: 'changes', value: { revision, events: [] } } })

function domainError(code: ErrorCode): RegistryCallError {
  const metadata = new Metadata()
  metadata.set('flexseat-error-bin', Buffer.from(ErrorDetail.encode(ErrorDetail.fromPartial({ code })).finish()))
  return RegistryCallError.from(Object.assign(new Error('refused'), { code: status.FAILED_PRECONDITION, details: 'refused', metadata }), 'RenewLease')
}
const transportError = (): RegistryCallError => RegistryCallError.from(Object.assign(new Error('down'), { code: status.UNAVAILABLE, details: 'down', metadata: new Metadata() }), 'RenewLease')

type Answer = RenewLeaseResponse | RegistryCallError | Promise<RenewLeaseResponse>

/** A RegistryClient whose RenewLease answers from a script (the last answer repeats). */
class FakeClient {
  readonly requests: { req: RenewLeaseRequest; at: number }[] = []
  released = 0
  constructor(
    private readonly clock: () => number,
    public answers: Answer[],
  ) {}
  async renewLease(req: RenewLeaseRequest): Promise<RenewLeaseResponse> {
    this.requests.push({ req, at: this.clock() })
    const answer = this.answers.length > 1 ? this.answers.shift()! : this.answers[0]!
    if (answer instanceof RegistryCallError) throw answer
    return answer
  }
  async releaseLease(): Promise<void> {
    this.released++
  }
}

const grant = (leaseSeconds: number, grantedRevision = '5', granted = true): RenewLeaseResponse => ({ leaseSeconds, grantedRevision, granted })

function events(lease: ConfirmationLease): string[] {
  const seen: string[] = []
  lease.on('active', () => seen.push('active'))
  lease.on('suspended', (reason) => seen.push(`suspended: ${reason}`))
  return seen
}

function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (check()) resolve()
      else if (Date.now() > deadline) reject(new Error('condition not met in time'))
      else setTimeout(poll, 5)
    }
    poll()
  })
}

t.test('validUntil: counted from before sending, minus max(250 ms, 10 %)', async (t) => {
  t.equal(validUntil(1_000, 2), 1_000 + 2_000 - 250, 'short lease: 250 ms margin')
  t.equal(validUntil(1_000, 10), 1_000 + 10_000 - 1_000, 'long lease: 10 %')
  t.equal(validUntil(0, 2.5), 2_500 - 250, '10 % of 2.5 s is exactly 250 ms')
})

t.test('validity counts from the instant just before sending, not from the answer', async (t) => {
  let clock = 10_000
  const now = (): number => clock
  let answer!: (res: RenewLeaseResponse) => void
  const client = new FakeClient(now, [new Promise<RenewLeaseResponse>((resolve) => (answer = resolve)), grant(3)])
  const view = new SeatView()
  view.apply(snapshot('5'))
  const lease = ConfirmationLease.start({ client, siteId: 'ams', nodeId: 'ams-1', view, stream: { resync: () => undefined }, logger, now })
  t.teardown(() => lease.stop())
  await until(() => client.requests.length === 1)
  t.equal(client.requests[0]?.req.appliedRevision, '5', 'sends the view revision')
  t.equal(client.requests[0]?.req.siteId, 'ams')
  t.equal(client.requests[0]?.req.nodeId, 'ams-1')
  clock += 1_200 // the registry takes 1.2 s to answer
  answer(grant(3))
  await until(() => lease.leaseSeconds === 3)
  t.equal(lease.validUntil, 10_000 + 3_000 - 300, 'validUntil = sent + lease - margin')
  t.equal(lease.active, true)
  clock = 10_000 + 2_699
  t.equal(lease.active, true, 'still valid 1 ms before')
  clock = 10_000 + 2_700
  t.equal(lease.active, false, 'invalid at validUntil (not 1.2 s later)')
})

t.test('a host suspended past the lease: the wall clock says expired though the monotonic clock has not moved', async (t) => {
  const monotonic = 50_000
  let wall = 1_900_000_000_000
  const client = new FakeClient(() => monotonic, [grant(3)])
  const view = new SeatView()
  view.apply(snapshot('5'))
  const lease = ConfirmationLease.start({ client, siteId: 'ams', nodeId: 'ams-1', view, stream: { resync: () => undefined }, logger, now: () => monotonic, wallNow: () => wall })
  t.teardown(() => lease.stop())
  await until(() => lease.leaseSeconds === 3)
  t.equal(lease.active, true)
  // Guard tried: judging by the monotonic clock alone keeps the lease active here.
  wall += 10_000 // a paused VM: CLOCK_MONOTONIC stood still, etcd's lease expired meanwhile
  t.equal(lease.active, false, 'not active: the wall clock is past the lease')
})

t.test('a timer flips to suspended exactly at validUntil when renewals fail', async (t) => {
  const client = new FakeClient(() => performance.now(), [grant(1), transportError()])
  const view = new SeatView()
  view.apply(snapshot('5'))
  const lease = ConfirmationLease.start({ client, siteId: 'ams', nodeId: 'ams-1', view, stream: { resync: () => undefined }, logger })
  t.teardown(() => lease.stop())
  const seen = events(lease)
  let flippedAt = 0
  lease.on('suspended', () => (flippedAt = performance.now()))
  await until(() => lease.active)
  const validUntilAt = lease.validUntil!
  await until(() => seen.length === 2, 3_000)
  t.same(seen, ['active', 'suspended: lease expired: no renewal in time'])
  t.ok(flippedAt >= validUntilAt, 'not before validUntil')
  t.ok(flippedAt - validUntilAt < 100, `promptly at validUntil (${Math.round(flippedAt - validUntilAt)} ms late)`)
  await until(() => client.requests.length >= 4, 3_000)
  t.equal(lease.active, false, 'failed renewals never extend the validity')
  const gaps = client.requests.slice(2).map((r, i) => r.at - client.requests[i + 1]!.at)
  t.ok(
    gaps.every((gap) => gap >= 450),
    `failed renewals retried every 500 ms (${gaps.map(Math.round).join(', ')})`,
  )
})

t.test('renews every leaseSeconds/3 and stays active without a gap', async (t) => {
  const client = new FakeClient(() => performance.now(), [grant(1, '5', true), grant(1, '5', false)])
  const view = new SeatView()
  view.apply(snapshot('5'))
  const lease = ConfirmationLease.start({ client, siteId: 'ams', nodeId: 'ams-1', view, stream: { resync: () => undefined }, logger })
  t.teardown(() => lease.stop())
  const seen = events(lease)
  await until(() => client.requests.length >= 5, 3_000)
  t.same(seen, ['active'], 'never suspended')
  const gaps = client.requests.slice(1).map((r, i) => r.at - client.requests[i]!.at)
  t.ok(
    gaps.every((gap) => gap >= 300 && gap < 500),
    `about 333 ms apart (${gaps.map(Math.round).join(', ')})`,
  )
})

t.test('not active until the view reaches the granted revision', async (t) => {
  const client = new FakeClient(() => performance.now(), [grant(3, '12')])
  const view = new SeatView()
  view.apply(snapshot('10'))
  const lease = ConfirmationLease.start({ client, siteId: 'ams', nodeId: 'ams-1', view, stream: { resync: () => undefined }, logger })
  t.teardown(() => lease.stop())
  const seen = events(lease)
  await until(() => lease.leaseSeconds === 3)
  t.equal(lease.active, false, 'view at 10, grant at 12')
  view.apply(changes('11'))
  t.equal(lease.active, false)
  // A revision with nothing to change still counts (no 'changes' event for it).
  view.apply(changes('12'))
  await until(() => seen.length > 0, 1_000)
  t.same(seen, ['active'])
  t.equal(lease.active, true)
})

t.test('LEASE_REFUSED: suspends at once, resyncs the view, asks again after the resync', async (t) => {
  const client = new FakeClient(() => performance.now(), [grant(3, '5'), domainError(ErrorCode.ERROR_CODE_LEASE_REFUSED), grant(3, '20')])
  const view = new SeatView()
  view.apply(snapshot('5'))
  let resyncs = 0
  let finishResync!: () => void
  const stream = {
    resync: () => {
      resyncs++
    },
    synced: () => new Promise<void>((resolve) => (finishResync = resolve)),
  }
  const lease = ConfirmationLease.start({ client, siteId: 'ams', nodeId: 'ams-1', view, stream, logger })
  t.teardown(() => lease.stop())
  const seen = events(lease)
  await until(() => seen.length === 2, 3_000)
  t.same(seen, ['active', 'suspended: lease refused: seat view behind'], 'suspended at once, validity not waited out')
  t.equal(resyncs, 1, 'resync requested')
  const asked = client.requests.length
  await new Promise((resolve) => setTimeout(resolve, 600))
  t.equal(client.requests.length, asked, 'does not ask again before the resync')
  view.apply(snapshot('20'))
  finishResync()
  await until(() => seen.length === 3, 2_000)
  t.equal(seen[2], 'active')
  t.equal(client.requests.at(-1)?.req.appliedRevision, '20', 'the new request carries the resynced revision')
})

t.test('LEASE_HELD: inactive, asks again every second', async (t) => {
  const client = new FakeClient(() => performance.now(), [domainError(ErrorCode.ERROR_CODE_LEASE_HELD)])
  const view = new SeatView()
  view.apply(snapshot('5'))
  const lease = ConfirmationLease.start({ client, siteId: 'ams', nodeId: 'ams-1', view, stream: { resync: () => undefined }, logger })
  t.teardown(() => lease.stop())
  await until(() => client.requests.length >= 2, 3_000)
  t.equal(lease.active, false)
  const gap = client.requests[1]!.at - client.requests[0]!.at
  t.ok(gap >= 950 && gap < 1_300, `about a second apart (${Math.round(gap)} ms)`)
})

t.test('stop: suspends and releases the lease; idempotent', async (t) => {
  const client = new FakeClient(() => performance.now(), [grant(3)])
  const view = new SeatView()
  view.apply(snapshot('5'))
  const lease = ConfirmationLease.start({ client, siteId: 'ams', nodeId: 'ams-1', view, stream: { resync: () => undefined }, logger })
  const seen = events(lease)
  await until(() => lease.active)
  await lease.stop()
  await lease.stop()
  t.equal(lease.active, false)
  t.same(seen, ['active', 'suspended: stopped'])
  t.equal(client.released, 1, 'ReleaseLease once')
  const asked = client.requests.length
  await new Promise((resolve) => setTimeout(resolve, 1_200))
  t.equal(client.requests.length, asked, 'no renewal after stop')
})

t.test('renewDeadline: min(lease/3, remaining validity - margin, client deadline), at least the margin', async (t) => {
  t.equal(renewDeadline(0, {}), 5_000, 'nothing known: the client default')
  t.equal(renewDeadline(0, {}, 2_000), 2_000, "the client's own deadline")
  t.equal(renewDeadline(0, { leaseSeconds: 3 }), 1_000, 'lease/3')
  t.equal(renewDeadline(0, { leaseSeconds: 30 }), 5_000, 'never more than the client default')
  t.equal(renewDeadline(1_000, { leaseSeconds: 3, validUntil: 1_900 }), 650, 'remaining validity minus 250 ms')
  t.equal(renewDeadline(1_000, { leaseSeconds: 3, validUntil: 1_100 }), 250, 'at least 250 ms')
  t.equal(renewDeadline(5_000, { leaseSeconds: 3, validUntil: 1_100 }), 1_000, 'validity gone: lease/3')
})

t.test('a black-holed registry address: the renewal gives up in time and the next address keeps the lease', async (t) => {
  // Address A stops answering after the first grant (a black hole: no refusal, no answer); the
  // client moves on to address B only after an attempt ran into its deadline, as RegistryClient
  // does. B answers at once.
  const deadlines: (number | undefined)[] = []
  const sentTo: string[] = []
  let address = 'A'
  let granted = 0
  const client = {
    async renewLease(_req: RenewLeaseRequest, deadlineMs?: number): Promise<RenewLeaseResponse> {
      deadlines.push(deadlineMs)
      sentTo.push(address)
      if (address === 'B' || granted === 0) {
        granted++
        return grant(3)
      }
      await new Promise((resolve) => setTimeout(resolve, deadlineMs ?? 5_000))
      address = 'B'
      throw RegistryCallError.from(Object.assign(new Error('deadline'), { code: status.DEADLINE_EXCEEDED, details: 'Deadline exceeded', metadata: new Metadata() }), 'RenewLease')
    },
    async releaseLease(): Promise<void> {},
  }
  const view = new SeatView()
  view.apply(snapshot('5'))
  const lease = ConfirmationLease.start({ client, siteId: 'ams', nodeId: 'ams-1', view, stream: { resync: () => undefined }, logger })
  t.teardown(() => lease.stop())
  const seen = events(lease)
  await until(() => sentTo.includes('B') && granted >= 3, 4_000)
  t.same(seen, ['active'], 'never suspended: B renewed before the lease ran out')
  t.ok(deadlines.slice(1).every((d) => d !== undefined && d <= 1_000), `every renewal after the grant has a deadline of at most lease/3 (${deadlines.join(', ')})`)
})

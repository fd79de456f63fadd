import t from 'tap'
import pino from 'pino'
import { type ExpiringSeat, SeatExpiry } from '@flexseat/registry'

const logger = pino({ level: 'silent' })

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

t.test('the timer fires at the nearest expiry and releases exactly the expired seats', async (t) => {
  const start = Date.now()
  let seats: ExpiringSeat[] = [
    { userId: 'a', epoch: '10', expiresAt: new Date(start + 300) },
    { userId: 'b', epoch: '11', expiresAt: new Date(start + 3_600_000) },
  ]
  const released: { seat: ExpiringSeat; at: number }[] = []
  const expiry = new SeatExpiry({
    logger,
    scan: async () => seats,
    release: async (seat) => {
      released.push({ seat, at: Date.now() })
      seats = seats.filter((s) => s !== seat)
    },
  })
  t.teardown(() => expiry.stop())
  expiry.start()
  t.ok(expiry.running)
  // How soon after its time it fires is a matter for benchmarks; the wait is only bounded.
  await until(() => released.length >= 1, 3_000, 'the first expiry')
  t.equal(released[0]!.seat.userId, 'a')
  t.ok(released[0]!.at >= start + 300, 'not before its time')
  t.equal(released.length, 1, 'only the expired seat was released')

  // A nearer limit written later re-arms the timer.
  const noted = { userId: 'c', epoch: '12', expiresAt: new Date(Date.now() + 200) }
  seats.push(noted)
  expiry.note(noted.expiresAt)
  await until(() => released.length >= 2, 3_000, 'the noted expiry')
  t.equal(released[1]!.seat.userId, 'c')
  t.same(seats.map((s) => s.userId), ['b'], 'the seat with time left stays')

  expiry.stop()
  t.notOk(expiry.running)
  seats.push({ userId: 'd', epoch: '13', expiresAt: new Date(Date.now() + 50) })
  expiry.note(new Date(Date.now() + 50))
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(released.length, 2, 'a stopped expiry (a follower) releases nothing')
})

t.test('a failed sweep is retried', async (t) => {
  let calls = 0
  const released: string[] = []
  const expiry = new SeatExpiry({
    logger,
    retryMs: 100,
    scan: async () => {
      calls++
      if (calls === 1) throw new Error('etcd away')
      return [{ userId: 'a', epoch: '1', expiresAt: new Date(0) }]
    },
    release: async (seat) => {
      released.push(seat.userId)
    },
  })
  t.teardown(() => expiry.stop())
  expiry.start()
  await until(() => released.length === 1, 3_000, 'the retry')
  t.ok(calls >= 2)
})

// The leader's periodic sweep (revocation-sweeper.ts): poke() sweeps at once instead of at the
// next tick (the registry pokes it when etcd deletes a branch's lease key), one more time right
// after a sweep under way, never two at once, and not at all once stopped.
import t from 'tap'
import pino from 'pino'
import { RevocationSweeper } from '../../packages/registry/src/revocation-sweeper'

const logger = pino({ level: 'silent' })

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

// Guards tried: poke() doing nothing: the first sweep waits for the one-hour tick and the test
// times out; poke() and #run() not minding a sweep under way: two sweeps overlap.
t.test('poke sweeps now, once more after a sweep under way, never two at once', async (t) => {
  let sweeps = 0
  let inFlight = 0
  let overlapped = false
  let release: (() => void) | undefined
  const sweeper = new RevocationSweeper({
    logger,
    intervalMs: 3_600_000,
    sweep: async () => {
      sweeps++
      if (++inFlight > 1) overlapped = true
      await new Promise<void>((resolve) => (release = resolve))
      inFlight--
    },
  })
  t.teardown(() => sweeper.stop())
  sweeper.poke()
  t.equal(sweeps, 0, 'stopped: a poke does nothing')
  sweeper.start()
  sweeper.poke()
  await until(() => sweeps === 1, 'the poked sweep')
  sweeper.poke()
  sweeper.poke()
  t.equal(sweeps, 1, 'a poke during a sweep does not start another beside it')
  release!()
  await until(() => sweeps === 2, 'the sweep after the one under way')
  release!()
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(sweeps, 2, 'two pokes during one sweep make one more sweep, not two')
  t.notOk(overlapped, 'never two at once')
  sweeper.stop()
  sweeper.poke()
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(sweeps, 2, 'stopped again: nothing')
})

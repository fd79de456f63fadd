import t from 'tap'
import { checkWatchStreams, type WatchEvent } from '@flexseat/history-check'
import { SeatHistoryBuilder } from '../helpers/history-check'

// Watch streams (watch-streams.ts) against etcd's history: ordered, no duplicate, no gap, no
// phantom; a resume after a reconnect starts right after the last revision received.

function history() {
  const h = new SeatHistoryBuilder(20)
  h.login('alice', 'ams-1') // 20
  h.login('bob', 'ber-1') // 21
  h.login('carol', 'ber-1') // 22: bumps bob (two seat changes in one revision)
  h.release('alice') // 23
  h.skip(2) // 24, 25: other keys
  h.login('alice', 'chi-1') // 26
  return h.build()
}

let at = 0
const ev = (client: string, revision: number, userId: string, deviceId: string | null, reconnect = false): WatchEvent => ({ client, atMs: ++at, revision, userId, deviceId, type: deviceId === null ? 'RELEASED' : 'SEATED', ...(reconnect ? { reconnect: true as const } : {}) })

const full = (client: string, reconnectAt?: number): WatchEvent[] => [
  ev(client, 20, 'alice', 'ams-1'),
  ev(client, 21, 'bob', 'ber-1'),
  ev(client, 22, 'bob', null),
  ev(client, 22, 'carol', 'ber-1'),
  ev(client, 23, 'alice', null, reconnectAt === 23),
  ev(client, 26, 'alice', 'chi-1', reconnectAt === 26),
]

t.test('complete streams pass, with a reconnect resumed right after the last revision', async (t) => {
  const res = checkWatchStreams([...full('a'), ...full('b', 23)], history())
  t.same(res.violations, [])
  t.equal(res.checked, 12)
  // A stream that started late (its first revision later) is checked from there.
  t.same(checkWatchStreams(full('c').slice(2), history()).violations, [])
})

t.test('a gap is caught, and named as a lossy resume when it sits at a reconnect', async (t) => {
  const events = full('a', 26).filter((e) => e.revision !== 23)
  const res = checkWatchStreams(events, history())
  t.same(res.violations.map((v) => v.message), ['a: revision 23 (alice) never delivered (gap: the stream resumed at 26 after a reconnect and lost it)'])
  const half = full('b').filter((e) => !(e.revision === 22 && e.userId === 'bob'))
  t.same(checkWatchStreams(half, history()).violations.map((v) => v.message), ["b: revision 22: the change of bob's seat is missing (gap)"])
})

t.test('duplicates, disorder and phantoms are caught', async (t) => {
  const dup = [...full('a').slice(0, 5), ev('a', 23, 'alice', null, true), ev('a', 26, 'alice', 'chi-1')]
  t.same(checkWatchStreams(dup, history()).violations.map((v) => v.message), ['a: revision 23 delivered again after a reconnect (the resume did not start after the last revision received) (duplicate)'])
  const disorder = [ev('b', 21, 'bob', 'ber-1'), ev('b', 20, 'alice', 'ams-1'), ev('b', 22, 'bob', null), ev('b', 22, 'carol', 'ber-1')]
  t.same(checkWatchStreams(disorder, history()).violations.map((v) => v.message), ['b: revision 20 after revision 21: out of order'])
  const phantom = [...full('c').slice(0, 5), ev('c', 24, 'alice', 'ams-2'), ev('c', 26, 'alice', 'chi-1')]
  t.same(checkWatchStreams(phantom, history()).violations.map((v) => v.message), ['c: revision 24: etcd changed no seat the stream covers at that revision (phantom event)'])
  const wrongDesk = full('d').map((e) => (e.revision === 26 ? { ...e, deviceId: 'chi-2' } : e))
  t.same(checkWatchStreams(wrongDesk, history()).violations.map((v) => v.message), ['d: revision 26: alice seated at chi-2, etcd put chi-1'])
  const twice = [...full('e').slice(0, 4), ev('e', 22, 'carol', 'ber-1'), ...full('e').slice(4)]
  t.same(checkWatchStreams(twice, history()).violations.map((v) => v.message), ['e: revision 22 names carol twice (duplicate)'])
})

t.test('a site-scoped stream is checked for its site only; a snapshot restarts the comparison', async (t) => {
  const ber = [ev('s', 21, 'bob', 'ber-1'), ev('s', 22, 'bob', null), ev('s', 22, 'carol', 'ber-1')]
  t.same(checkWatchStreams(ber, history(), { sites: { s: 'ber' } }).violations, [])
  t.equal(checkWatchStreams(ber, history()).violations.length, 0, 'unscoped, the same events are a valid prefix')
  const missing = [ev('s', 21, 'bob', 'ber-1'), ev('s', 26, 'alice', 'chi-1')]
  t.same(checkWatchStreams(missing, history(), { sites: { s: 'ber' } }).violations.map((v) => v.message).sort(), ['s: revision 22 (bob, carol) never delivered (gap)', 's: revision 26: etcd changed no seat the stream covers at that revision (phantom event)'])
  const resnap = [ev('r', 20, 'alice', 'ams-1'), { ...ev('r', 25, 'alice', null), type: 'SNAPSHOT' }, ev('r', 26, 'alice', 'chi-1')]
  t.same(checkWatchStreams(resnap, history()).violations, [], 'nothing compared across a snapshot')
  // After a snapshot at 21, revision 22 is owed even though the first change received is 23.
  const late = [{ ...ev('l', 21, '', null), type: 'snapshot-initial' }, ev('l', 23, 'alice', null), ev('l', 26, 'alice', 'chi-1')]
  t.same(checkWatchStreams(late, history()).violations.map((v) => v.message), ['l: revision 22 (bob, carol) never delivered (gap)'])
})

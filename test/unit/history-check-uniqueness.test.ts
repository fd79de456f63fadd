import t from 'tap'
import { checkUniqueness } from '@flexseat/history-check'
import { SeatHistoryBuilder, seatValue } from '../helpers/history-check'

// Invariant 1 replayed revision by revision (uniqueness.ts) on histories written the way the
// registry's transactions write them; each kind of broken revision is caught at its revision.

t.test('a valid history: logins, a move, a bump, a logout, a pending takeover and its completion', async (t) => {
  const h = new SeatHistoryBuilder(100)
  h.initial.set('seats/dave', seatValue('dave', 'chi-1'))
  h.initial.set('hosts/chi-1', 'dave')
  h.login('alice', 'ams-1')
  h.login('bob', 'ams-2')
  h.login('alice', 'ber-1', undefined, [{ siteId: 'ams', deviceId: 'ams-1', epoch: '100' }])
  h.txn({ key: 'seats/alice', value: seatValue('alice', 'ber-1') }, { key: 'revocations/ams/alice', value: null })
  h.login('carol', 'ams-2') // bumps bob
  h.release('carol')
  h.skip(3)
  const res = checkUniqueness(h.build())
  t.same(res.violations, [])
  t.equal(res.checked, h.revision - 100 + 2, 'every revision of the run and the state before it')
})

t.test('the pending seat with its index in the same transaction is valid', async (t) => {
  const h = new SeatHistoryBuilder(10)
  h.login('alice', 'ams-1')
  h.txn({ key: 'hosts/ams-1', value: null }, { key: 'hosts/ber-1', value: 'alice' }, { key: 'seats/alice', value: seatValue('alice', 'ber-1', [{ siteId: 'ams', deviceId: 'ams-1', epoch: '10' }]) }, { key: 'revocations/ams/alice', value: '{"epoch":"10"}' })
  h.txn({ key: 'seats/alice', value: seatValue('alice', 'ber-1') }, { key: 'revocations/ams/alice', value: null })
  // A release that leaves a revocation outstanding: revoking/ while no seat, then taken by the next login.
  h.txn({ key: 'seats/alice', value: null }, { key: 'hosts/ber-1', value: null }, { key: 'revoking/alice', value: JSON.stringify([{ siteId: 'ber', deviceId: 'ber-1', epoch: '12' }]) }, { key: 'revocations/ber/alice', value: '{"epoch":"12"}' })
  h.txn({ key: 'revoking/alice', value: null }, { key: 'hosts/chi-1', value: 'alice' }, { key: 'seats/alice', value: seatValue('alice', 'chi-1', [{ siteId: 'ber', deviceId: 'ber-1', epoch: '12' }]) })
  t.same(checkUniqueness(h.build()).violations, [])
})

t.test('a double seat at one revision is caught there', async (t) => {
  const h = new SeatHistoryBuilder(50)
  h.login('alice', 'ams-1')
  const planted = h.txn({ key: 'seats/bob', value: seatValue('bob', 'ams-1') })
  h.txn({ key: 'seats/bob', value: null })
  const res = checkUniqueness(h.build())
  t.ok(res.violations.some((v) => v.message === `revision ${planted}: desk ams-1 carries 2 workers (alice, bob)`), 'two workers at one desk')
  t.ok(res.violations.every((v) => v.message.startsWith(`revision ${planted}:`)), 'only at that revision')
})

t.test('host keys must mirror the seats', async (t) => {
  const stale = new SeatHistoryBuilder(1)
  stale.login('alice', 'ams-1')
  // A move that forgot the old desk's host key: alice shows at two desks.
  const r = stale.txn({ key: 'hosts/ber-1', value: 'alice' }, { key: 'seats/alice', value: seatValue('alice', 'ber-1') })
  t.same(checkUniqueness(stale.build()).violations.map((v) => v.message), [`revision ${r}: hosts/ams-1 names alice, whose seat is at ber-1: the worker shows at two desks`])
  const missing = new SeatHistoryBuilder(1)
  const m = missing.txn({ key: 'seats/alice', value: seatValue('alice', 'ams-1') })
  t.same(checkUniqueness(missing.build()).violations.map((v) => v.message), [`revision ${m}: seats/alice is at ams-1 but hosts/ams-1 is absent`])
  const orphan = new SeatHistoryBuilder(1)
  const o = orphan.txn({ key: 'hosts/ams-1', value: 'alice' })
  t.same(checkUniqueness(orphan.build()).violations.map((v) => v.message), [`revision ${o}: hosts/ams-1 names alice, who has no seat`])
  const before = new SeatHistoryBuilder(7)
  before.initial.set('seats/alice', seatValue('alice', 'ams-1'))
  before.initial.set('seats/bob', seatValue('bob', 'ams-1'))
  before.initial.set('hosts/ams-1', 'bob')
  t.ok(checkUniqueness(before.build()).violations.some((v) => v.message.startsWith('revision 6: desk ams-1 carries 2 workers')), 'the state before the run is checked too')
})

t.test('revocation states', async (t) => {
  const both = new SeatHistoryBuilder(1)
  both.login('alice', 'ams-1')
  const r = both.txn({ key: 'revoking/alice', value: JSON.stringify([{ siteId: 'ber', deviceId: 'ber-1', epoch: '1' }]) }, { key: 'revocations/ber/alice', value: '{}' })
  t.same(checkUniqueness(both.build()).violations.map((v) => v.message), [`revision ${r}: revoking/alice exists beside the worker's seat (it may exist only while the worker has no seat)`])
  const own = new SeatHistoryBuilder(1)
  const o = own.txn({ key: 'hosts/ams-1', value: 'alice' }, { key: 'seats/alice', value: seatValue('alice', 'ams-1', [{ siteId: 'ams', deviceId: 'ams-2', epoch: '1' }]) }, { key: 'revocations/ams/alice', value: '{}' })
  t.same(checkUniqueness(own.build()).violations.map((v) => v.message), [`revision ${o}: the seat of alice at ams-1 is pending on its own site ams`])
  const unindexed = new SeatHistoryBuilder(1)
  const u = unindexed.txn({ key: 'revoking/alice', value: JSON.stringify([{ siteId: 'ber', deviceId: 'ber-1', epoch: '1' }]) })
  t.same(checkUniqueness(unindexed.build()).violations.map((v) => v.message), [`revision ${u}: alice has a pending revocation at ber (desk ber-1) without its index key revocations/ber/alice`])
})

// Presence: when the presence put fails after its lease was granted, the lease is revoked before
// the error is reported (a retry loop would otherwise leak one kept-alive lease per attempt).
// The put is made to fail for real: a record larger than etcd's request limit (1.5 MiB) is
// refused by etcd after the lease grant succeeded.
import t from 'tap'
import pino from 'pino'
import { Keys, createEtcdClient } from '@flexseat/registry'
import { Presence } from '../../packages/registry/src/presence'
import { freshPrefix, startEtcd, waitFor } from '../helpers/registry-core-harness'

t.test('a failed presence put leaves no lease behind', async (t) => {
  const cluster = await startEtcd(t, 1)
  const etcd = createEtcdClient(cluster.endpoints, { callTimeoutMs: 3_000 })
  t.teardown(() => etcd.close())
  const leases = async (): Promise<number> => (await etcd.leaseClient.leaseLeases()).leases.length
  const before = await leases()

  const huge = { siteId: 'amsterdam', address: '127.0.0.1:1', startedAt: new Date().toISOString(), version: 'x'.repeat(2 * 1024 * 1024) }
  const presence = new Presence(etcd, new Keys(freshPrefix()), 'ams-huge', huge, 5, pino({ level: 'silent' }))
  t.teardown(() => presence.stop())
  await t.rejects(presence.start(), 'the put is refused by etcd')
  // Revocation is awaited before start() rejects; poll briefly all the same (no sleep).
  await waitFor(async () => (await leases()) === before, 3_000, 'no lease left').catch(() => undefined)
  t.equal(await leases(), before, 'the granted lease was revoked')

  // A normal record still registers (and its lease is the only new one).
  const ok = new Presence(etcd, new Keys(freshPrefix()), 'ams-ok', { ...huge, version: 'test' }, 5, pino({ level: 'silent' }))
  await ok.start()
  t.equal(await leases(), before + 1, 'one lease for the registered instance')
  await ok.stop()
  t.equal(await leases(), before, 'and none after it stopped')
})

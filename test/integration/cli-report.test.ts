// `flexseat report occupancy` against a real registry (etcd and a registry process, gRPC): the
// plain table, --csv and --json of a history with known hours (written in the registry's key
// layout, at a site in UTC so the expected figures need no zone arithmetic), and bad input:
// missing options (usage), a bad date (the registry's INVALID_ARGUMENT naming the field), a
// viewer's token.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { Device, Site, unary } from '@flexseat/proto'
import { createEtcdClient, Keys } from '@flexseat/registry'
import { cliRegistry } from '../helpers/cli-registry'
import { writeEndedSeats } from '../helpers/seat-history'

t.setTimeout(45_000)

const H = 3_600_000

t.test('flexseat report occupancy', async (t) => {
  const { cluster, cli } = await cliRegistry(t)
  const admin = cluster.metadata('admin')
  const { directory } = cluster.clients(0)
  await unary(directory.createSite.bind(directory), { requestId: randomUUID(), site: Site.fromPartial({ id: 'lab', name: 'Lab', timezone: 'Etc/UTC' }) }, { metadata: admin, timeoutMs: 5_000 })
  for (const id of ['lab-1', 'lab-2', 'lab-3']) {
    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: Device.fromPartial({ id, siteId: 'lab', extension: '', label: `Lab, ${id}`, model: 'test', flexHost: true }) }, { metadata: admin, timeoutMs: 5_000 })
  }
  const etcd = createEtcdClient(cluster.etcd.endpoints, { callTimeoutMs: 3_000 })
  t.teardown(() => etcd.close())
  const keys = new Keys(cluster.prefix)
  const day = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 3 * 86_400_000
  const [d1, d2] = [new Date(day).toISOString().slice(0, 10), new Date(day + 86_400_000).toISOString().slice(0, 10)]
  await writeEndedSeats(etcd, keys, [
    { userId: 'u1', deviceId: 'lab-1', siteId: 'lab', start: day + 8 * H, end: day + 12.5 * H, reason: 1 },
    { userId: 'u2', deviceId: 'lab-2', siteId: 'lab', start: day + 10 * H, end: day + 26 * H, reason: 1 },
  ])
  const period = ['report', 'occupancy', '--site', 'lab', '--from', d1, '--to', d2]

  const table = await cli(period)
  t.equal(table.code, 0, `exits 0 ${table.stderr}`)
  const text = table.stdout
  t.match(text, new RegExp(`^occupancy of lab \\(Etc/UTC\\), ${d1} to ${d2}, counted until \\S+Z$`, 'm'))
  t.match(text, /^hours seated: 20\.50 in 2 seats$/m)
  t.match(text, new RegExp(`^peak: 2 seated at once, from ${d1} 10:00 \\(${d1}T10:00:00Z\\)$`, 'm'))
  t.match(text, /^desks not used: lab-3$/m)
  t.match(text, new RegExp(`^DAY\\s+HOURS\\n${d1}\\s+18\\.50\\n${d2}\\s+2\\.00$`, 'm'), 'hours per day')
  t.match(text, /^01:00\s+1\.00$/m, 'by hour of day: 01:00 is lab-2\'s second night hour')
  t.match(text, /^10:00\s+2\.00$/m, '10:00: both')
  t.match(text, /^12:00\s+1\.50$/m, '12:00: lab-2 and half of lab-1\'s')
  t.match(text, /^DESK\s+LABEL\s+SEATS\s+HOURS\s+BUSIEST DAY$/m)
  t.match(text, new RegExp(`^lab-1\\s+Lab, lab-1\\s+1\\s+4\\.50\\s+${d1} \\(4\\.50\\)$`, 'm'))
  t.match(text, new RegExp(`^lab-2\\s+Lab, lab-2\\s+1\\s+16\\.00\\s+${d1} \\(14\\.00\\)$`, 'm'))
  t.match(text, /^lab-3\s+Lab, lab-3\s+0\s+0\.00\s+-$/m, 'the unused desk, in the table too')

  const csv = await cli([...period, '--csv'])
  t.equal(csv.code, 0)
  const rows = csv.stdout.split('\r\n')
  const hourZeros = (values: Record<number, number>) => Array.from({ length: 24 }, (_, h) => String(values[h] ?? 0)).join(',')
  t.equal(rows[0], `desk,label,seats,hours,${d1},${d2},${Array.from({ length: 24 }, (_, h) => `h${String(h).padStart(2, '0')}`).join(',')},peak_seats,peak_at`)
  t.equal(rows[1], `*,lab,2,20.5,18.5,2,${hourZeros({ 0: 1, 1: 1, 8: 1, 9: 1, 10: 2, 11: 2, 12: 1.5, 13: 1, 14: 1, 15: 1, 16: 1, 17: 1, 18: 1, 19: 1, 20: 1, 21: 1, 22: 1, 23: 1 })},2,${d1}T10:00:00Z`)
  t.equal(rows[2], `lab-1,"Lab, lab-1",1,4.5,4.5,0,${hourZeros({ 8: 1, 9: 1, 10: 1, 11: 1, 12: 0.5 })},,`, 'a label with a comma is quoted')
  t.equal(rows[4], `lab-3,"Lab, lab-3",0,0,0,0,${hourZeros({})},,`)
  t.equal(rows.length, 6, 'the branch, three desks, and the final line end')

  const json = JSON.parse((await cli([...period, '--json'])).stdout)
  t.match(json, { siteId: 'lab', timezone: 'Etc/UTC', days: [d1, d2], branch: { perDay: [18.5, 2], total: 20.5, seats: 2 }, peakSeats: 2, peakAt: `${d1}T10:00:00.000Z`, unusedDeviceIds: ['lab-3'] })

  t.equal((await cli(['report', 'occupancy', '--site', 'lab', '--from', d1])).code, 2, 'no --to: a usage error')
  t.equal((await cli([...period, '--csv', '--json'])).code, 2, '--csv and --json: a usage error')
  const bad = await cli(['report', 'occupancy', '--site', 'lab', '--from', d2, '--to', d1])
  t.equal(bad.code, 1, 'from after to: refused by the registry')
  t.match(bad.stderr, /\bto\b.*must not be before from/)
  t.equal((await cli(period, cluster.tokens.viewer)).code, 4, 'a viewer may not read reports')
})

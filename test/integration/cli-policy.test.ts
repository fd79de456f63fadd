// `flexseat policy` against a real registry (etcd and a registry process, gRPC): set at site,
// department and user; `policy show <user>` prints the effective value and where it came from;
// bad input is refused naming the field, and nothing is written.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { unary } from '@flexseat/proto'
import { cliRegistry } from '../helpers/cli-registry'
import { worker } from '../helpers/registry-cluster'

t.setTimeout(45_000)

t.test('flexseat policy', async (t) => {
  const { cluster, cli } = await cliRegistry(t)
  await cluster.waitForSites()
  const { directory } = cluster.clients(0)
  await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker('1001', { department: 'Sales' }), pin: '4711' }, { metadata: cluster.metadata('admin'), timeoutMs: 5_000 })

  const site = await cli(['policy', 'set', '--site', 'amsterdam', '--max-hours', '10', '--daily', '19:00', '--warn-minutes', '10'])
  t.equal(site.code, 0, `set --site exits 0 ${site.stderr}`)
  t.match(site.stdout, /daily sign-out\s+19:00/)
  const dept = await cli(['policy', 'set', '--department', 'Sales', '--max-hours', '8', '--idle-minutes', '30', '--warn-minutes', 'none'])
  t.equal(dept.code, 0, `set --department exits 0 ${dept.stderr}`)
  t.match(dept.stdout, /warn minutes\s+none/)
  const user = await cli(['policy', 'set', '--user', 'u1001', '--no-defer'])
  t.equal(user.code, 0, `set --user exits 0 ${user.stderr}`)

  const shown = await cli(['policy', 'show', 'u1001'])
  t.equal(shown.code, 0, `show exits 0 ${shown.stderr}`)
  t.match(shown.stdout, /max hours\s+8 h\s+\(from department sales\)/)
  t.match(shown.stdout, /daily sign-out\s+19:00 Europe\/Amsterdam\s+\(from site amsterdam\)/)
  t.match(shown.stdout, /idle minutes\s+30 min\s+\(from department sales\)/)
  t.match(shown.stdout, /defer while in call\s+no\s+\(from user u1001\)/)
  t.match(shown.stdout, /defer at most \(minutes\)\s+240 min\s+\(from default\)/)
  t.match(shown.stdout, /warn minutes\s+none\s+\(from department sales\)/)
  const json = await cli(['policy', 'show', 'u1001', '--site', 'amsterdam', '--json'])
  t.equal(json.code, 0, json.stderr)
  t.match(JSON.parse(json.stdout), { policy: { maxHours: 8, timeZone: 'Europe/Amsterdam', dailySignOut: '19:00' } })
  const elsewhere = await cli(['policy', 'show', 'u1001', '--site', 'nowhere'])
  t.not(elsewhere.code, 0, 'an unknown site')
  t.match(elsewhere.stderr, /no site "nowhere"/)

  const bad = await cli(['policy', 'set', '--site', 'amsterdam', '--daily', '25:00'])
  t.not(bad.code, 0, 'a bad time is refused')
  t.match(bad.stderr, /daily_sign_out/, `names the field: ${bad.stderr}`)
  const tooMany = await cli(['policy', 'set', '--user', 'u1001', '--max-hours', '1000'])
  t.not(tooMany.code, 0)
  t.match(tooMany.stderr, /max_hours/)
  const after = await cli(['policy', 'get', '--site', 'amsterdam'])
  t.match(after.stdout, /daily sign-out\s+19:00/, 'the refused set wrote nothing')
  const viewer = await cli(['policy', 'set', '--site', 'amsterdam', '--max-hours', '1'], cluster.tokens.viewer)
  t.not(viewer.code, 0, 'a viewer may not set a policy')

  const cleared = await cli(['policy', 'clear', '--department', 'sales'])
  t.equal(cleared.code, 0, cleared.stderr)
  t.match((await cli(['policy', 'show', 'u1001'])).stdout, /max hours\s+10 h\s+\(from site amsterdam\)/)
})

// The real `flexseat` command against a real registry (etcd and a registry process): function-key
// profiles, a device's MAC, vendor and desk profile, a worker's label, language and own keys.
import t, { type Test } from 'tap'
import type { CliResult } from '../helpers/cli'
import { cliRegistry } from '../helpers/cli-registry'

t.setTimeout(45_000)

t.test('flexseat profile / device --mac --vendor / user --key', async (t) => {
  const { cli } = await cliRegistry(t)
  const ok = (t: Test, result: CliResult, what: string): void => void t.equal(result.code, 0, `${what} exits 0${result.code === 0 ? '' : `: ${result.stderr}`}`)

  ok(t, await cli(['site', 'create', '--id', 'oslo', '--name', 'Oslo', '--timezone', 'Europe/Oslo', '--sip-domain', 'oslo.example']), 'site create')
  const profile = await cli(['profile', 'set', 'sales', '--description', 'Sales desks', '--key', 'line::', '--key', 'blf:1002:Alan, the boss', '--key', 'speed-dial:+4722000000:Office'])
  ok(t, profile, 'profile set')
  t.match(profile.stdout, /^key 2\s+blf:1002:Alan, the boss$/m, 'a label with a comma stays whole')
  const json = JSON.parse((await cli(['profile', 'get', 'sales', '--json'])).stdout)
  t.same(json.profile.keys, [{ type: 'FUNCTION_KEY_TYPE_LINE' }, { type: 'FUNCTION_KEY_TYPE_BLF', value: '1002', label: 'Alan, the boss' }, { type: 'FUNCTION_KEY_TYPE_SPEED_DIAL', value: '+4722000000', label: 'Office' }])
  t.match((await cli(['profile', 'list'])).stdout, /^sales\s+3\s+Sales desks$/m)
  const badKey = await cli(['profile', 'set', 'x', '--key', 'park:1'])
  t.equal(badKey.code, 2, 'an unknown key type is a usage error')
  t.match(badKey.stderr, /--key "park:1" must start with blf:, speed-dial: or line:/)
  const badValue = await cli(['profile', 'set', 'x', '--key', 'blf:'])
  t.equal(badValue.code, 1, 'a BLF without extension is refused by the registry')
  t.match(badValue.stderr, /profile\.keys\[0\]\.value/)

  const desk = await cli(['device', 'create', '--id', 'desk-1', '--site', 'oslo', '--ext', '2001', '--flex-host', '--mac', '80:5E:C0:12:34:56', '--vendor', 'yealink', '--fkey-profile', 'sales'])
  ok(t, desk, 'device create with MAC and vendor')
  t.match(desk.stdout, /^mac\s+805ec0123456$/m)
  t.match(desk.stdout, /^vendor\s+yealink$/m)
  t.match(desk.stdout, /^function keys\s+sales$/m)
  const taken = await cli(['device', 'create', '--id', 'desk-2', '--site', 'oslo', '--ext', '2002', '--mac', '805ec0123456'])
  t.equal(taken.code, 1, 'a MAC another device has')
  t.match(taken.stderr, /MAC address 805ec0123456 belongs to another device/)
  t.equal((await cli(['device', 'update', 'desk-1', '--vendor', 'nokia'])).code, 2, 'an unknown vendor')
  ok(t, await cli(['device', 'update', 'desk-1', '--vendor', 'snom']), 'device update --vendor')
  t.match((await cli(['device', 'get', 'desk-1'])).stdout, /^vendor\s+snom$/m)

  const user = await cli(['user', 'create', '--id', 'ada', '--ext', '1001', '--name', 'Ada Lovelace', '--home', 'oslo', '--pin', '2468', '--label', 'Ada (Sales)', '--language', 'nb', '--key', 'blf:1002:Alan'])
  ok(t, user, 'user create with a desk profile')
  t.match(user.stdout, /^own keys\s+blf:1002:Alan$/m)
  t.match(user.stdout, /^language\s+nb$/m)
  const cleared = await cli(['user', 'update', 'ada', '--no-keys', '--fkey-profile', 'sales'])
  ok(t, cleared, 'user update --no-keys')
  t.notMatch(cleared.stdout, /own keys/, 'the own keys are gone: the profile applies')
  t.match(cleared.stdout, /^function keys\s+sales$/m)
  ok(t, await cli(['profile', 'delete', 'sales']), 'profile delete')
  t.equal((await cli(['profile', 'get', 'sales'])).code, 1, 'gone')
})

import t, { type Test as Tap } from 'tap'
import { createHash } from 'node:crypto'
import { Cli, type CliResult } from '../helpers/cli'
import { RegistryCluster } from '../helpers/registry-cluster'

// `flexseat device ... --sip-password-stdin`, `device set-password`, `device credentials` and
// `site ... --sip-domain`: the real command (packages/cli/dist/main.js) as a child process against
// a real registry cluster. Build: npx tsc -b packages/cli packages/registry

t.setTimeout(60_000)

const md5 = (text: string): string => createHash('md5').update(text).digest('hex')
const PASSWORD = 'Cli9&pw-first'
const NEW_PASSWORD = 'Cli8*pw-second'

t.test('flexseat device credentials', async (t) => {
  const keepAlive = setInterval(() => undefined, 1_000)
  const cluster = await RegistryCluster.start({ instances: 1, etcdMembers: 1, logLevel: 'info', nodeSites: ['oslo'] }).catch((error: unknown) => {
    clearInterval(keepAlive)
    throw error
  })
  t.teardown(async () => {
    await cluster.stop()
    clearInterval(keepAlive)
  })
  const address = cluster.instances[0]!.address
  // The phones below are at oslo: its node's token is the one that may read their credentials.
  const env = (role: 'admin' | 'sip-node' | 'viewer' = 'admin') => ({ FLEXSEAT_REGISTRY: address, FLEXSEAT_TOKEN: role === 'sip-node' ? cluster.siteToken('oslo') : cluster.tokens[role] })
  const cli = async (args: readonly string[], environment: Record<string, string> = env(), stdinLines?: readonly string[]): Promise<CliResult> => {
    const cliProcess = await Cli.start(args, environment, stdinLines)
    try {
      return await cliProcess.result()
    } finally {
      await cliProcess.process.kill()
    }
  }
  const ok = (t: Tap, result: CliResult, what: string): void => {
    t.equal(result.code, 0, `${what} exits 0${result.code === 0 ? '' : `: ${result.stderr}`}`)
    const unexpected = result.stderr.split('\n').filter((line) => line !== '' && !/; retrying in \d+\.\d s \(retry \d+\)$/.test(line))
    t.same(unexpected, [], `${what} prints no error`)
  }

  const site = await cli(['site', 'create', '--id', 'oslo', '--name', 'Oslo', '--sip-domain', 'oslo.flexseat.test'])
  ok(t, site, 'site create --sip-domain')
  t.match(site.stdout, /^sip domain\s+oslo\.flexseat\.test$/m)
  const updated = await cli(['site', 'update', 'oslo', '--sip-domain', 'oslo.example.test', '--json'])
  ok(t, updated, 'site update --sip-domain')
  t.match(JSON.parse(updated.stdout), { site: { id: 'oslo', sipDomain: 'oslo.example.test' } })

  const created = await cli(['device', 'create', '--id', 'desk-1', '--site', 'oslo', '--ext', '2001', '--sip-password-stdin'], env(), [PASSWORD])
  ok(t, created, 'device create --sip-password-stdin')
  t.match(created.stdout, /^sip password\s+set$/m)
  t.notMatch(created.stdout + created.stderr, PASSWORD, 'the password is not printed')

  const plain = await cli(['device', 'create', '--id', 'desk-2', '--site', 'oslo', '--ext', '2002'])
  ok(t, plain, 'device create without a password')
  t.match(plain.stdout, /^sip password\s+not set$/m)

  const list = await cli(['device', 'list'])
  ok(t, list, 'device list')
  t.match(list.stdout, /^desk-1\s.*\sset$/m)
  t.match(list.stdout, /^desk-2\s.*\snot set$/m)

  const creds = await cli(['device', 'credentials', 'desk-1'])
  ok(t, creds, 'device credentials (admin)')
  t.match(creds.stdout, /^realm\s+oslo\.example\.test$/m)
  t.match(creds.stdout, new RegExp(`^ha1\\s+${md5(`desk-1:oslo.example.test:${PASSWORD}`)}$`, 'm'), 'HA1 = MD5(id:realm:password)')

  const asNode = await cli(['device', 'credentials', 'desk-1', '--json'], env('sip-node'))
  ok(t, asNode, 'device credentials (sip-node)')
  t.same(JSON.parse(asNode.stdout), { deviceId: 'desk-1', siteId: 'oslo', realm: 'oslo.example.test', ha1: md5(`desk-1:oslo.example.test:${PASSWORD}`) })

  const viewer = await cli(['device', 'credentials', 'desk-1'], env('viewer'))
  t.equal(viewer.code, 4, `a viewer may not read credentials (exit 4): ${viewer.stderr}`)

  const none = await cli(['device', 'credentials', 'desk-2'])
  t.equal(none.code, 1, `no password is a refusal (exit 1): ${none.stderr}`)
  t.match(none.stderr, /no SIP password/)

  const set = await cli(['device', 'set-password', 'desk-2'], env(), [NEW_PASSWORD])
  ok(t, set, 'device set-password')
  t.match(set.stdout, /^sip password\s+set$/m)
  t.notMatch(set.stdout + set.stderr, NEW_PASSWORD, 'the password is not printed')
  const got = await cli(['device', 'get', 'desk-2'])
  t.match(got.stdout, /^sip password\s+set$/m, 'device get shows it set')
  const creds2 = await cli(['device', 'credentials', 'desk-2', '--json'])
  t.equal((JSON.parse(creds2.stdout) as { ha1: string }).ha1, md5(`desk-2:oslo.example.test:${NEW_PASSWORD}`))

  const bad = await cli(['device', 'set-password', 'desk-2'], env(), ['short'])
  t.equal(bad.code, 1, `a bad password is a refusal: ${bad.stderr}`)
  t.match(bad.stderr, /^flexseat: device\.sip_password: .+\n$/, 'one line naming the field')
  t.notMatch(bad.stderr, 'short', 'without the password')

  const missing = await cli(['device', 'set-password', 'desk-2'], env(), [])
  t.not(missing.code, 0, `no password on stdin fails: ${missing.stderr}`)
})

// The provisioning service's configuration: the site file's `language` and `provisioning`
// section (validated with the rest of the site), and the service's own variables. Bad input stops
// it with a message naming the field or variable, never a token.
import t from 'tap'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadSites } from '@flexseat/config'
import { loadProvisioningConfig } from '@flexseat/provisioning'

const SITES = join(__dirname, '..', '..', 'sites')

async function sitesWith(t: { teardown(fn: () => unknown): void }, change: (text: string) => string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-prov-sites-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'berlin.yaml'), change(await readFile(join(SITES, 'berlin.yaml'), 'utf8')))
  return dir
}

t.test('the example sites: a language and a provisioning service each', async (t) => {
  const sites = await loadSites(SITES)
  t.same(sites.map((s) => [s.id, s.language, s.provisioning?.listen]), [['amsterdam', 'nl', '127.0.0.1:8081'], ['berlin', 'de', '127.0.0.1:8082'], ['chicago', 'en-US', '127.0.0.1:8083']])
})

t.test('bad site keys are named', async (t) => {
  const cases: [string, (text: string) => string, RegExp][] = [
    ['a bad language', (s) => s.replace('language: de', 'language: "Deutsch!"'), /language: "Deutsch!" must be a language tag/],
    ['a bad listen address', (s) => s.replace('listen: 127.0.0.1:8082', 'listen: nowhere'), /provisioning\.listen/],
    ['a bad url', (s) => s.replace('listen: 127.0.0.1:8082', 'listen: 127.0.0.1:8082\n  url: "ftp://x"'), /provisioning\.url: "ftp:\/\/x" must be an http/],
    ['a bad default profile', (s) => s.replace('listen: 127.0.0.1:8082', 'listen: 127.0.0.1:8082\n  default_profile: "Sales Desk"'), /provisioning\.default_profile/],
    ['a blf_list that is no boolean', (s) => s.replace('listen: 127.0.0.1:8082', 'listen: 127.0.0.1:8082\n  blf_list: sometimes'), /provisioning\.blf_list/],
    ['a misspelt key', (s) => s.replace('listen: 127.0.0.1:8082', 'listen: 127.0.0.1:8082\n  defualt_profile: x'), /provisioning\.defualt_profile: is not a known field/],
  ]
  for (const [what, change, message] of cases) await t.rejects(loadSites(await sitesWith(t, change)), { code: 'CONFIG_INVALID', message }, what)
  const without = await loadSites(await sitesWith(t, (s) => s.replace(/\nlanguage: de\n/, '\n').replace(/provisioning:\n {2}listen: [^\n]+\n/, '')))
  t.equal(without[0]?.language, 'en', 'no language: English')
  t.equal(without[0]?.provisioning, undefined, 'no section: no service')
  const listed = await loadSites(await sitesWith(t, (s) => s.replace('listen: 127.0.0.1:8082', 'listen: 127.0.0.1:8082\n  blf_list: true')))
  t.equal(listed[0]?.provisioning?.blfList, true, 'blf_list: true read')
  t.equal((await loadSites(SITES))[1]?.provisioning?.blfList, false, 'blf_list: off by default')
})

t.test('the service\'s variables', async (t) => {
  const dir = await sitesWith(t, (s) => s)
  const token = 'secret-provisioning-token-value'
  const base = { FLEXSEAT_PROVISIONING_TOKEN: token }
  const ok = await loadProvisioningConfig(['--site', 'berlin', '--sites-dir', dir], base)
  t.same(ok.listen, { host: '127.0.0.1', port: 8082 })
  t.equal(ok.publicUrl, undefined)
  t.same(ok.registryAddresses, ['127.0.0.1:50052'])
  t.equal((await loadProvisioningConfig(['--site', 'berlin', '--sites-dir', dir], { ...base, FLEXSEAT_PROVISIONING_URL: 'https://prov.example:8443/' })).publicUrl, 'https://prov.example:8443', 'the public URL, without a trailing slash')
  const refused: [string, NodeJS.ProcessEnv, string[], RegExp][] = [
    ['no token', {}, [], /FLEXSEAT_PROVISIONING_TOKEN_FILE or FLEXSEAT_PROVISIONING_TOKEN is required/],
    ['half a certificate', { ...base, FLEXSEAT_PROVISIONING_TLS_CERT: '/x.pem' }, [], /go together/],
    ['a bad URL', { ...base, FLEXSEAT_PROVISIONING_URL: 'prov.example' }, [], /FLEXSEAT_PROVISIONING_URL/],
    ['a bad listen address', { ...base, FLEXSEAT_PROVISIONING_LISTEN: 'x' }, [], /FLEXSEAT_PROVISIONING_LISTEN/],
    ['no --site', base, ['--sites-dir', dir], /--site is required/],
  ]
  for (const [what, env, args, message] of refused) {
    const error = await loadProvisioningConfig(args.length > 0 ? args : ['--site', 'berlin', '--sites-dir', dir], env).then(() => undefined, (e: Error) => e)
    t.match(error, { code: 'CONFIG_INVALID', message }, what)
    t.notOk(error?.message.includes(token), `${what}: the message never holds the token`)
  }
  const noSection = await sitesWith(t, (s) => s.replace(/provisioning:\n {2}listen: [^\n]+\n/, ''))
  await t.rejects(loadProvisioningConfig(['--site', 'berlin', '--sites-dir', noSection], base), { message: /has no provisioning section/ })
})

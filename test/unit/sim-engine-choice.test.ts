import t from 'tap'
import { chmod, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DEFAULT_SIP_SECURITY } from '@flexseat/config'
import { chooseEngine, drachtioServerKind, EMBEDDED_ENGINE_NODE_FLAGS, engineKind, findDrachtioServer, siteProcessKinds, SimError } from '@flexseat/sim'

// `npm start -- --engine drachtio-server`: which binary runs, and what is refused.
t.test('findDrachtioServer: DRACHTIO_SERVER_BIN, else the PATH, else ../shared/drachtio beside the repository', async (t) => {
  const dir = t.testdir({ repo: {}, bin: {}, shared: { drachtio: {} } })
  const fake = async (file: string): Promise<string> => {
    await writeFile(file, '#!/bin/sh\n')
    await chmod(file, 0o755)
    return file
  }
  const repo = join(dir, 'repo')
  t.equal(findDrachtioServer(repo, { PATH: '' }), undefined, 'none anywhere')
  const shared = await fake(join(dir, 'shared', 'drachtio', 'drachtio'))
  t.equal(findDrachtioServer(repo, { PATH: '' }), shared, 'the shared build beside the repository')
  const onPath = await fake(join(dir, 'bin', 'drachtio'))
  t.equal(findDrachtioServer(repo, { PATH: join(dir, 'bin') }), onPath, 'the PATH before the shared build')
  const named = await fake(join(dir, 'named-drachtio'))
  t.equal(findDrachtioServer(repo, { PATH: join(dir, 'bin'), DRACHTIO_SERVER_BIN: named }), named, 'DRACHTIO_SERVER_BIN first')
  t.equal(findDrachtioServer(repo, { PATH: join(dir, 'bin'), DRACHTIO_SERVER_BIN: join(dir, 'missing') }), undefined, 'a named binary that is not there is not replaced by another')
})

t.test('chooseEngine: embedded by default; drachtio-server needs a binary; anything else is refused', async (t) => {
  const dir = t.testdir({ repo: {} })
  const repo = join(dir, 'repo')
  t.same(chooseEngine(undefined, repo, { PATH: '' }), { name: 'embedded' })
  t.same(chooseEngine('embedded', repo, { PATH: '' }), { name: 'embedded' })
  t.throws(() => chooseEngine('kamailio', repo, { PATH: '' }), { code: 'BAD_OPTION', message: /"kamailio" is not one of embedded, drachtio-server/ })
  t.throws(() => chooseEngine('drachtio-server', repo, { PATH: '' }), { code: 'BAD_OPTION', message: /no drachtio-server found/ })
  t.throws(() => chooseEngine('drachtio-server', repo, { PATH: '', DRACHTIO_SERVER_BIN: join(dir, 'nope') }), new SimError('BAD_OPTION', `--engine drachtio-server: DRACHTIO_SERVER_BIN=${join(dir, 'nope')} is not an executable file`))
  const bin = join(dir, 'drachtio')
  await writeFile(bin, '#!/bin/sh\n')
  await chmod(bin, 0o755)
  t.same(chooseEngine('drachtio-server', repo, { PATH: '', DRACHTIO_SERVER_BIN: bin }), { name: 'drachtio-server', bin })
})

t.test("the engine kinds: the same flags, each engine's ready signal", async (t) => {
  const site = { id: 'berlin', registry: { listen: '127.0.0.1:50052' }, sip: { contact: 'sip:127.0.0.1:5062;transport=udp,tcp', control: '127.0.0.1:9023' } } as Parameters<typeof engineKind.command>[0]
  const context = { repoRoot: '/repo', tokens: { engineSecret: 's3' } } as Parameters<typeof engineKind.command>[1]
  const kind = drachtioServerKind('/opt/drachtio')
  const command = kind.command(site, context)
  t.equal(command.command, '/opt/drachtio')
  t.same(command.args, ['--contact', site.sip.contact, '--address', '127.0.0.1', '--port', '9023', '--loglevel', 'notice'])
  // node's flags, then the engine's entry point, then its own flags
  const embedded = engineKind.command(site, context).args.slice(EMBEDDED_ENGINE_NODE_FLAGS.length)
  t.equal(embedded[0], join('/repo', 'packages', 'sip-engine', 'dist', 'main.js'))
  t.same(embedded.slice(1, 8), command.args.slice(0, -1), 'the embedded engine takes the same flags')
  t.same(embedded.slice(9), ['--drop-user-agent', 'friendly-scanner', '--drop-user-agent', 'sipcli', '--drop-user-agent', 'sipvicious'], 'and drops scanners: the site says nothing, so drop_scanners is on')
  t.same(engineKind.command({ ...site, sipSecurity: { ...DEFAULT_SIP_SECURITY, dropScanners: false } }, context).args.slice(EMBEDDED_ENGINE_NODE_FLAGS.length + 9), [], 'not with drop_scanners: false')
  // The secret never on the command line (`ps` shows it to every user): both engines read it here.
  t.same(command.env, { DRACHTIO_SECRET: 's3' }, "drachtio-server's control secret is in its environment")
  t.same(engineKind.command(site, context).env, { DRACHTIO_SECRET: 's3', FLEXSEAT_METRICS_LISTEN: '127.0.0.1:0' }, "and the embedded engine's (with its metrics on a port of the site's address)")
  t.equal(kind.readyAddress({ text: '2026-12-07 02:12:18.554967 DrachtioController::run: starting sip stack on sip:127.0.0.1:5062', record: undefined }, site), undefined, 'not ready while the SIP stack starts')
  t.equal(kind.readyAddress({ text: '2026-12-07 02:12:18.556534 Starting sofia event loop in main thread: 1405', record: undefined }, site), '127.0.0.1:9023', 'ready once its SIP event loop runs: at the control socket')
  t.same(siteProcessKinds({ name: 'drachtio-server', bin: '/opt/drachtio' }).map((k) => k.name), ['registry', 'sip-engine', 'sip-node', 'provisioning', 'portal'])
  t.equal(siteProcessKinds({ name: 'embedded' })[1], engineKind)
})

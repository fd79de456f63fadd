// Review fixes at process level (real registry process, real etcd, real gRPC): the wrong-PIN
// lockout is configurable through FLEXSEAT_LOCKOUT_*, bad values and a lease TTL below etcd's
// minimum exit 2 naming the variable, and a changed site file updates the directory's site
// record when the instance restarts (once: an unchanged file writes nothing).
import t from 'tap'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { status } from '@grpc/grpc-js'
import { parseDocument } from 'yaml'
import { ErrorCode, unary, User } from '@flexseat/proto'
import { errorDetailOf } from '@flexseat/registry'
import { callError, eventually, REGISTRY_MAIN, REPO_ROOT, RegistryCluster } from '../helpers/registry-cluster'

t.setTimeout(60_000)

const run = promisify(execFile)

async function exitOf(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FLEXSEAT_') && !name.startsWith('OTEL_')))
  try {
    await run(process.execPath, [REGISTRY_MAIN, '--site', 'amsterdam'], { cwd: REPO_ROOT, env: { ...inherited, ...env }, timeout: 10_000 })
    return { code: 0, stderr: '' }
  } catch (error) {
    const failed = error as { code: number; stderr: string }
    return { code: failed.code, stderr: failed.stderr }
  }
}

t.test('bad lockout settings and a lease TTL under 2 s exit 2 naming the variable', async (t) => {
  const cases: [string, string][] = [
    ['FLEXSEAT_LEASE_TTL_SECONDS', '1'],
    ['FLEXSEAT_LOCKOUT_MAX_FAILURES', '0'],
    ['FLEXSEAT_LOCKOUT_MAX_FAILURES', 'three'],
    ['FLEXSEAT_LOCKOUT_WINDOW_SECONDS', '-5'],
    ['FLEXSEAT_LOCKOUT_SECONDS', '1.5'],
  ]
  const results = await Promise.all(cases.map(([name, value]) => exitOf({ [name]: value })))
  cases.forEach(([name, value], i) => {
    t.equal(results[i]!.code, 2, `${name}=${value}: exit 2`)
    t.match(results[i]!.stderr, new RegExp(name), `${name}=${value}: the message names it`)
  })
})

t.test('a registry process with lockout settings and a site file that changes', async (t) => {
  const sitesDir = await mkdtemp(join(tmpdir(), 'flexseat-review-sites-'))
  t.teardown(() => rm(sitesDir, { recursive: true, force: true }))
  const siteFile = join(sitesDir, 'amsterdam.yaml')
  await copyFile(join(REPO_ROOT, 'sites', 'amsterdam.yaml'), siteFile)

  const cluster = await RegistryCluster.start({
    instances: 1,
    sites: ['amsterdam'],
    sitesDir,
    etcdMembers: 1,
    env: { FLEXSEAT_LOCKOUT_MAX_FAILURES: '2', FLEXSEAT_LOCKOUT_WINDOW_SECONDS: '600', FLEXSEAT_LOCKOUT_SECONDS: '600' },
  })
  t.teardown(() => cluster.stop())
  const admin = cluster.metadata('admin')
  const getSite = async () => {
    const { directory } = cluster.clients(0)
    return (await unary(directory.getSite.bind(directory), { siteId: 'amsterdam' }, { metadata: admin, timeoutMs: 2_000 })).site
  }
  await eventually('the site exists', async () => (await getSite())?.name === 'Amsterdam')

  t.test('FLEXSEAT_LOCKOUT_MAX_FAILURES=2 locks after two wrong PINs', async (t) => {
    const { directory, seat } = cluster.clients(0)
    await unary(
      directory.createUser.bind(directory),
      {
        requestId: randomUUID(),
        pin: '135790',
        user: User.fromPartial({ id: 'lena', extension: '7301', displayName: 'Lena', homeSiteId: 'amsterdam', roamingAllowed: true }),
      },
      { metadata: admin },
    )
    await unary(
      directory.createDevice.bind(directory),
      { requestId: randomUUID(), device: { id: 'ams-desk-7301', siteId: 'amsterdam', extension: '', label: '', model: '', flexHost: true, revision: '0' } },
      { metadata: admin },
    )
    const attempt = (pin: string) =>
      unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: 'ams-desk-7301', extension: '7301', pin, durationHours: 0 }, { metadata: cluster.metadata('sip-node') })
    const first = errorDetailOf(await callError(attempt('000000')))
    t.equal(first?.code, ErrorCode.ERROR_CODE_WRONG_PIN, 'first wrong PIN: WRONG_PIN')
    t.equal(first?.attemptsLeft, 1, 'one attempt left (not the default four)')
    const second = await callError(attempt('000000'))
    t.equal(errorDetailOf(second)?.code, ErrorCode.ERROR_CODE_LOCKED_AT_DESK, 'second wrong PIN at the desk: LOCKED_AT_DESK')
    const lockedUntil = errorDetailOf(second)?.lockedUntil
    t.ok(lockedUntil, 'the lock has an end')
    const lockMs = new Date(lockedUntil as unknown as string | Date).getTime() - Date.now()
    t.ok(lockMs > 500_000 && lockMs <= 600_000, `the lock lasts FLEXSEAT_LOCKOUT_SECONDS (600 s; ${Math.round(lockMs / 1000)} s left)`)
    const right = await callError(attempt('135790'))
    t.equal(right.code === status.OK ? -1 : errorDetailOf(right)?.code, ErrorCode.ERROR_CODE_LOCKED_AT_DESK, 'even the right PIN is refused there while locked')
  })

  t.test('a changed site file updates the site record on restart, once', async (t) => {
    const document = parseDocument(await readFile(siteFile, 'utf8'))
    document.set('name', 'Amsterdam Zuid')
    document.set('emergency_numbers', ['112', '911'])
    document.set('dispatchable_location', 'Zuidas 1, 1082 MD Amsterdam, NL; floor 7')
    await writeFile(siteFile, document.toString())
    await cluster.restart(0)
    const updated = await eventually('the directory shows the new site file', async () => {
      const site = await getSite()
      return site?.name === 'Amsterdam Zuid' ? site : undefined
    })
    t.same(updated.emergencyNumbers, ['112', '911'], 'emergency numbers updated')
    t.equal(updated.dispatchableLocation, 'Zuidas 1, 1082 MD Amsterdam, NL; floor 7', 'dispatchable location updated')
    t.equal(updated.timezone, 'Europe/Amsterdam', 'unchanged fields stay')
    await cluster.waitForLog(0, (line) => line['msg'] === 'site updated in the directory from its site file')

    // Unchanged file: a restart writes nothing (same revision).
    const since = cluster.instances[0]!.logs.length
    await cluster.restart(0)
    await cluster.waitForLog(0, (line) => line['msg'] === 'site record matches the site file', { since, timeoutMs: 20_000 })
    const again = await getSite()
    t.equal(again?.revision, updated.revision, 'an unchanged site file does not write the record again')
    t.notOk(
      cluster.instances[0]!.logs.slice(since).some((line) => line.includes('site updated in the directory')),
      'no update after the second restart',
    )
  })
})

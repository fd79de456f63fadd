import t from 'tap'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { copySitesOnFreePorts } from '../helpers/sim-sites'
import { eventually, processesMentioning, startSim } from '../helpers/sim-run'

// The launcher's failure paths: a child that dies brings the rest down with a non-zero exit;
// bad state and bad site files are refused before anything starts.
t.setTimeout(60_000)

t.test('a registry that dies is reported; the launcher stops the rest and exits non-zero', async (t) => {
  const sitesDir = await copySitesOnFreePorts()
  const stateDir = await mkdtemp(join(tmpdir(), 'flexseat-state-'))
  t.teardown(() => rm(sitesDir, { recursive: true, force: true }))
  t.teardown(() => rm(stateDir, { recursive: true, force: true }))
  const run = await startSim(['--sites-dir', sitesDir, '--state-dir', stateDir])
  t.teardown(() => run.process.kill())
  await run.waitFor(/│ ready$/m, 40_000)
  const registries = processesMentioning('registry/dist/main.js', '--site\0berlin', sitesDir)
  t.equal(registries.length, 1, 'berlin registry found')
  process.kill(registries[0]!, 'SIGKILL')
  const exit = await run.exit(20_000)
  t.equal(exit.code, 1, 'exit code 1')
  t.match(run.output(), /berlin registry \(pid \d+\) ended unexpectedly: killed by SIGKILL; stopping the rest/)
  t.ok(
    await eventually(() => processesMentioning(join(stateDir, 'etcd') + '/').length === 0 && processesMentioning('registry/dist/main.js', sitesDir).length === 0, 5_000),
    'no etcd or registry process is left',
  )
})

t.test('state of another etcd cluster is refused with a hint to --reset', async (t) => {
  const sitesDir = await copySitesOnFreePorts()
  const stateDir = await mkdtemp(join(tmpdir(), 'flexseat-state-'))
  t.teardown(() => rm(sitesDir, { recursive: true, force: true }))
  t.teardown(() => rm(stateDir, { recursive: true, force: true }))
  await mkdir(join(stateDir, 'etcd', 'etcd-amsterdam'), { recursive: true })
  await writeFile(join(stateDir, 'etcd', 'members.json'), JSON.stringify([{ name: 'etcd-amsterdam', clientUrl: 'http://127.0.0.1:1', peerUrl: 'http://127.0.0.1:2' }]))
  const run = await startSim(['--sites-dir', sitesDir, '--state-dir', stateDir])
  t.teardown(() => run.process.kill())
  const exit = await run.exit(20_000)
  t.equal(exit.code, 1)
  t.match(run.output(), /could not start: .*other members than the sites name.*--reset/)
  t.equal(processesMentioning(join(stateDir, 'etcd') + '/').length, 0, 'no etcd was started')

  const reset = await startSim(['--sites-dir', sitesDir, '--state-dir', stateDir, '--reset'])
  t.teardown(() => reset.process.kill())
  await reset.waitFor(/starting etcd/, 10_000)
  await reset.waitFor(/│ ready$|could not start/m, 40_000)
  t.notMatch(reset.output(), /could not start/, '--reset wipes the old state and starts')
  reset.process.signal('SIGINT')
  t.equal((await reset.exit(20_000)).code, 0)
})

t.test('a bad site file is refused before anything starts (exit code 2)', async (t) => {
  const sitesDir = await copySitesOnFreePorts()
  const stateDir = await mkdtemp(join(tmpdir(), 'flexseat-state-'))
  t.teardown(() => rm(sitesDir, { recursive: true, force: true }))
  t.teardown(() => rm(stateDir, { recursive: true, force: true }))
  await writeFile(join(sitesDir, 'berlin.yaml'), 'id: berlin\n')
  const run = await startSim(['--sites-dir', sitesDir, '--state-dir', stateDir])
  t.teardown(() => run.process.kill())
  t.equal((await run.exit(20_000)).code, 2)
  t.match(run.output(), /flexseat-sim: .*berlin\.yaml: name: is missing/)
})

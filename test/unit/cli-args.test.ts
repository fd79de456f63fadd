import t from 'tap'
import { PassThrough } from 'node:stream'
import { CommandInput, connectionSettings, ExitCode, parseArgv, resolveCommand, run, UsageError } from '@flexseat/cli'

/** Runs the CLI in-process with captured output; no registry is involved in these cases. */
async function cli(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
  const code = await run(argv, { stdin: new PassThrough(), stdout, stderr, env, signal: new AbortController().signal })
  return { code, stdout: out, stderr: err }
}

t.test('parseArgv splits command words and options, wherever the options stand', async (t) => {
  const parsed = parseArgv(['--registry', 'h:1', 'user', 'create', '--ext', '1001', '--name=Ada Lovelace', '--roaming', '--json'])
  t.same(parsed.words, ['user', 'create'])
  t.same(parsed.values, { registry: 'h:1', ext: '1001', name: 'Ada Lovelace', roaming: true, json: true })
  t.same(parseArgv(['site', 'update', 'x', '--emergency', '112', '--emergency=911,999']).values, { emergency: ['112', '911,999'] })
  t.same(parseArgv(['user', 'get', '--', '--odd-id']).words, ['user', 'get', '--odd-id'], '-- ends the options')
})

t.test('parseArgv refuses unknown options, missing values, values of flags, repeats', async (t) => {
  t.throws(() => parseArgv(['seats', '--bogus']), new UsageError('unknown option --bogus'))
  t.throws(() => parseArgv(['seats', '-x']), new UsageError('unknown option -x'))
  t.throws(() => parseArgv(['user', 'create', '--ext']), { message: 'option --ext needs a value' })
  t.throws(() => parseArgv(['user', 'create', '--ext', '--json']), { message: /^option --ext needs a value/ }, 'another option is not a value')
  t.throws(() => parseArgv(['seats', '--json=yes']), { message: 'option --json takes no value' })
  t.throws(() => parseArgv(['seats', '--site', 'a', '--site', 'b']), { message: 'option --site given twice' })
  t.same(parseArgv(['user', 'update', 'x', '--did=-1']).values, { did: '-1' }, 'an inline value may start with -')
})

t.test('resolveCommand checks the options and positionals each command takes', async (t) => {
  const { command, input } = resolveCommand(parseArgv(['user', 'get', 'ada']))
  t.same(command.path, ['user', 'get'])
  t.same(input.positionals, ['ada'])
  t.throws(() => resolveCommand(parseArgv(['seats', '--device', 'x'])), { message: 'seats: unknown option --device' })
  t.throws(() => resolveCommand(parseArgv(['user', 'delete'])), { message: 'user delete: missing <id>' })
  t.throws(() => resolveCommand(parseArgv(['login', '1001', '4321', '--device', 'd'])), { message: 'login: too many arguments' }, 'surplus is not echoed (it may be a PIN)')
  t.throws(() => resolveCommand(parseArgv(['frobnicate'])), { message: 'unknown command "frobnicate"' })
  t.throws(() => resolveCommand(parseArgv(['user', 'frob'])), { message: 'user: missing or unknown subcommand' })
})

t.test('CommandInput accessors name the option at fault', async (t) => {
  const input = new CommandInput('user update', ['ada'], { 'max-hours': '8h', roaming: true, 'no-roaming': true, ext: '1001' })
  t.throws(() => input.integer('max-hours'), { message: 'user update: --max-hours must be a whole number from 0 to 4294967295' })
  t.throws(() => input.toggle('roaming', 'no-roaming'), { message: 'user update: give --roaming or --no-roaming, not both' })
  t.throws(() => input.required('name'), { message: 'user update: --name is required' })
  t.same(input.oneOf(['user', 'ext', 'device']), ['ext', '1001'])
  t.throws(() => new CommandInput('seat', [], {}).oneOf(['user', 'ext', 'device']), { message: 'seat: give exactly one of --user, --ext, --device' })
  t.same(new CommandInput('site create', [], { emergency: ['112', '911, 999'] }).list('emergency'), ['112', '911', '999'])
})

t.test('connection settings: options win over the environment; token sources exclusive', async (t) => {
  const input = (values: Record<string, string | boolean>): CommandInput => new CommandInput('seats', [], values)
  t.same(await connectionSettings(input({}), {}), { address: '127.0.0.1:50051', token: undefined, timeoutMs: 10_000, tls: undefined })
  t.same(await connectionSettings(input({}), { FLEXSEAT_REGISTRY: 'r:2', FLEXSEAT_TOKEN: 'env-token' }), { address: 'r:2', token: 'env-token', timeoutMs: 10_000, tls: undefined })
  const given = await connectionSettings(input({ registry: 'o:3', token: 'opt', timeout: '500' }), { FLEXSEAT_REGISTRY: 'r:2', FLEXSEAT_TOKEN: 'env' })
  t.same(given, { address: 'o:3', token: 'opt', timeoutMs: 500, tls: undefined })
  await t.rejects(connectionSettings(input({ token: 'a', 'token-file': '/x' }), {}), { message: 'give --token or --token-file, not both' })
  await t.rejects(connectionSettings(input({ 'tls-cert': '/c' }), {}), { message: '--tls-cert and --tls-key go together' })
  await t.rejects(connectionSettings(input({ 'token-file': '/nonexistent/token' }), {}), { message: 'cannot read the token file /nonexistent/token: ENOENT', exitCode: ExitCode.Usage })
  await t.rejects(connectionSettings(input({ timeout: '0' }), {}), { message: '--timeout must be at least 1 (milliseconds)' })
})

t.test('usage: help exits 0 on stdout, a bad command line exits 2 with one line and a pointer', async (t) => {
  const help = await cli(['help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /Usage: flexseat <command>/)
  t.match(help.stdout, /cluster status/)
  t.equal(help.stderr, '')

  const commandHelp = await cli(['user', 'create', '--help'])
  t.equal(commandHelp.code, 0)
  t.match(commandHelp.stdout, /^Usage: flexseat user create --ext N --name TEXT --home SITE/)
  t.match(commandHelp.stdout, /--pin N\s+the PIN on the command line \(for scripts: visible in the process list\)/)
  t.same((await cli(['help', 'watch'])).stdout, (await cli(['watch', '-h'])).stdout)
  t.match((await cli(['help', 'device'])).stdout, /flexseat device create --site SITE --ext N/)

  const bare = await cli([])
  t.equal(bare.code, ExitCode.Usage)
  t.equal(bare.stdout, '')
  t.match(bare.stderr, /Usage: flexseat <command>/)

  const bad = await cli(['login', '1001'])
  t.equal(bad.code, ExitCode.Usage)
  t.equal(bad.stderr, "flexseat: login: --device is required\nRun 'flexseat login --help' for usage.\n")

  const badUpdate = await cli(['user', 'update', 'ada'])
  t.equal(badUpdate.code, ExitCode.Usage)
  t.match(badUpdate.stderr, /^flexseat: user update: nothing to change/)

  const reason = await cli(['logout', '--ext', '1001', '--reason', 'bored'])
  t.equal(reason.code, ExitCode.Usage)
  t.match(reason.stderr, /--reason must be admin or logout/)

  const group = await cli(['site'])
  t.equal(group.code, ExitCode.Usage)
  t.match(group.stderr, /flexseat site create --id ID --name TEXT/)
})

t.test('a PIN or token given on the command line never appears in an error', async (t) => {
  const secrets = ['7391', 'tok-SECRET-1']
  for (const argv of [
    ['login', '1001', '7391', '--device', 'd', '--token', 'tok-SECRET-1'],
    ['user', 'create', '--ext', '1', '--pin', '7391', '--token', 'tok-SECRET-1'],
    ['user', 'reset-pin', 'ada', '--pin', '7391', '--pin-stdin', '--token', 'tok-SECRET-1'],
  ]) {
    const result = await cli(argv)
    t.equal(result.code, ExitCode.Usage, argv.join(' '))
    for (const secret of secrets) t.notMatch(result.stderr + result.stdout, secret)
  }
})

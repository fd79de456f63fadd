import { readFile } from 'node:fs/promises'
import { errorDetailOf } from '@flexseat/proto'
import { CommandInput, GLOBAL_OPTIONS, type OptionName, parseArgv, type ParsedArgs } from './args'
import { DEFAULT_CALL_TIMEOUT_MS, DEFAULT_REGISTRY, grpcTarget, RegistryClient, type TlsFiles } from './client'
import { COMMANDS } from './commands/index'
import type { CommandContext, CommandSpec } from './commands/command'
import { CliError, describeFailure, type FailureContext, UsageError } from './errors'
import { ExitCode } from './exit-codes'
import { type PinSource, readPins } from './pin-input'
import { commandName, commandUsage, groupUsage, topUsage } from './usage'

/** What the CLI runs against: the process's streams and environment, passed in by main.ts. */
export interface CliIo {
  readonly stdin: PinSource['input']
  readonly stdout: NodeJS.WritableStream
  readonly stderr: NodeJS.WritableStream
  /** Environment: FLEXSEAT_REGISTRY, FLEXSEAT_TOKEN are read from it. */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Aborted on SIGINT: calls are cancelled, `watch` ends with 0. */
  readonly signal: AbortSignal
  /** The clock (default: the system's). */
  readonly now?: () => Date
}

/** The command named by the leading words, the longest match first. */
export function findCommand(words: readonly string[], commands: readonly CommandSpec[] = COMMANDS): CommandSpec | undefined {
  let best: CommandSpec | undefined
  for (const command of commands) {
    if (command.path.length > words.length) continue
    if (!command.path.every((word, i) => words[i] === word)) continue
    if (best === undefined || command.path.length > best.path.length) best = command
  }
  return best
}

function isGroup(word: string | undefined): word is string {
  return word !== undefined && COMMANDS.some((command) => command.path.length > 1 && command.path[0] === word)
}

/**
 * Resolves the command line to a command and checks it: options the command does not take,
 * positionals too few or too many. Throws a {@link UsageError}.
 */
export function resolveCommand(parsed: ParsedArgs): { command: CommandSpec; input: CommandInput } {
  const command = findCommand(parsed.words)
  if (command === undefined) {
    const [first] = parsed.words
    if (isGroup(first)) throw new UsageError(`${first}: missing or unknown subcommand`, first)
    throw new UsageError(first === undefined ? 'missing command' : `unknown command "${first}"`)
  }
  const name = commandName(command)
  const allowed = new Set<OptionName>([...GLOBAL_OPTIONS, ...command.options])
  for (const option of Object.keys(parsed.values) as OptionName[]) {
    if (!allowed.has(option)) throw new UsageError(`${name}: unknown option --${option}`, name)
  }
  const positionals = parsed.words.slice(command.path.length)
  const { min, max, names } = command.positionals ?? { min: 0, max: 0, names: '' }
  if (positionals.length < min) throw new UsageError(`${name}: missing ${names}`, name)
  // The surplus is not echoed: it could be a PIN typed in the wrong place.
  if (positionals.length > max) throw new UsageError(`${name}: too many arguments`, name)
  return { command, input: new CommandInput(name, positionals, parsed.values) }
}

async function readSecretFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path)
  } catch (error) {
    throw new CliError(`cannot read the ${what} file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, ExitCode.Usage, { cause: error })
  }
}

/** The connection settings from the global options and the environment (options win). */
export async function connectionSettings(
  input: CommandInput,
  env: CliIo['env'],
): Promise<{ address: string; token: string | undefined; timeoutMs: number; tls: TlsFiles | undefined }> {
  const address = input.string('registry') ?? (env.FLEXSEAT_REGISTRY || DEFAULT_REGISTRY)
  if (grpcTarget(address) === undefined) throw new UsageError('--registry: a list of addresses must be IPv4 host:port, comma separated', input.command)
  if (input.has('token') && input.has('token-file')) throw new UsageError('give --token or --token-file, not both', input.command)
  let token = input.string('token')
  const tokenFile = input.string('token-file')
  if (tokenFile !== undefined) {
    token = (await readSecretFile(tokenFile, 'token')).toString('utf8').trim()
    if (token === '') throw new CliError(`the token file ${tokenFile} is empty`, ExitCode.Usage)
  }
  token ??= env.FLEXSEAT_TOKEN || undefined
  const timeoutMs = input.integer('timeout') ?? DEFAULT_CALL_TIMEOUT_MS
  if (timeoutMs === 0) throw new UsageError('--timeout must be at least 1 (milliseconds)', input.command)
  const ca = input.string('tls-ca')
  const cert = input.string('tls-cert')
  const key = input.string('tls-key')
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together', input.command)
  let tls: TlsFiles | undefined
  if (ca !== undefined || cert !== undefined) {
    tls = {}
    if (ca !== undefined) tls.ca = await readSecretFile(ca, 'CA certificate')
    if (cert !== undefined) tls.cert = await readSecretFile(cert, 'client certificate')
    if (key !== undefined) tls.key = await readSecretFile(key, 'client key')
  }
  return { address, token, timeoutMs, tls }
}

function write(stream: NodeJS.WritableStream, text: string): void {
  stream.write(text)
}

/**
 * Runs one `flexseat` command line (argv without node and the script) and resolves to the exit
 * code. Output goes to `io.stdout`, the one-line error or notices to `io.stderr`. Never throws.
 */
export async function run(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  const fail = (error: unknown, context: FailureContext = {}): ExitCode => {
    const failure = describeFailure(error, context)
    write(io.stderr, `flexseat: ${failure.message}\n`)
    if (error instanceof UsageError) {
      write(io.stderr, `Run 'flexseat ${error.command === undefined ? 'help' : `${error.command} --help`}' for usage.\n`)
    }
    return failure.exitCode
  }

  let parsed: ParsedArgs
  try {
    parsed = parseArgv(argv)
  } catch (error) {
    return fail(error)
  }
  const help = parsed.values.help === true
  const [first, ...rest] = parsed.words
  if (first === undefined) {
    write(help ? io.stdout : io.stderr, topUsage(COMMANDS))
    return help ? ExitCode.Ok : ExitCode.Usage
  }
  if (first === 'help' || help) {
    const words = first === 'help' ? rest : parsed.words
    if (words.length === 0) {
      write(io.stdout, topUsage(COMMANDS))
      return ExitCode.Ok
    }
    const command = findCommand(words)
    if (command !== undefined && command.path.length === words.length) write(io.stdout, commandUsage(command))
    else if (isGroup(words[0]) && words.length === 1) write(io.stdout, groupUsage(words[0], COMMANDS))
    else if (command !== undefined) write(io.stdout, commandUsage(command))
    else return fail(new UsageError(`unknown command "${words.join(' ')}"`))
    return ExitCode.Ok
  }

  let resolved: { command: CommandSpec; input: CommandInput }
  let settings: Awaited<ReturnType<typeof connectionSettings>>
  try {
    resolved = resolveCommand(parsed)
    settings = await connectionSettings(resolved.input, io.env)
  } catch (error) {
    if (error instanceof UsageError && error.command !== undefined && isGroup(error.command) && !error.command.includes(' ')) {
      write(io.stderr, `flexseat: ${error.message}\n${groupUsage(error.command, COMMANDS)}`)
      return ExitCode.Usage
    }
    return fail(error)
  }

  const { command, input } = resolved
  let client: RegistryClient | undefined
  const context: CommandContext = {
    input,
    json: input.flag('json'),
    signal: io.signal,
    env: io.env,
    client() {
      client ??= RegistryClient.connect({
        address: settings.address,
        timeoutMs: settings.timeoutMs,
        ...(settings.token === undefined ? {} : { token: settings.token }),
        ...(settings.tls === undefined ? {} : { tls: settings.tls }),
        // Say why the command waits when the registry asked it to (riding out a leader election
        // takes seconds); the quick retries of an unreachable address stay silent.
        onRetry: (error, retry, delayMs) => {
          if (errorDetailOf(error) === undefined) return
          const why = describeFailure(error, { address: settings.address }).message
          write(io.stderr, `flexseat: ${why}; retrying in ${(delayMs / 1000).toFixed(1)} s (retry ${retry})\n`)
        },
      })
      return client
    },
    print: (text) => write(io.stdout, text),
    printJson: (document, line = false) => write(io.stdout, (line ? JSON.stringify(document) : JSON.stringify(document, null, 2)) + '\n'),
    notice: (text) => write(io.stderr, `flexseat: ${text}\n`),
    readPins: (prompts) => readPins({ input: io.stdin, output: io.stderr }, prompts),
    now: io.now ?? (() => new Date()),
  }
  try {
    return (await command.run(context)) ?? ExitCode.Ok
  } catch (error) {
    return fail(error, { address: settings.address, timeoutMs: settings.timeoutMs, tokenGiven: settings.token !== undefined })
  } finally {
    client?.close()
  }
}

import { GLOBAL_OPTIONS, OPTIONS, type OptionName, type OptionSpec } from './args'
import type { CommandSpec } from './commands/command'
import { formatTable } from './format-table'

/** The exit codes, as usage states them. */
const EXIT_CODES =
  'Exit codes: 0 ok, 1 the registry refused the request, 2 usage error, 3 registry unavailable or\n' +
  'no answer in time, 4 authentication or permission failure.\n'

/** The name of a command, e.g. "user create". */
export function commandName(command: CommandSpec): string {
  return command.path.join(' ')
}

function optionLines(names: readonly OptionName[]): string {
  const rows = names.map((name) => {
    const spec: OptionSpec = OPTIONS[name]
    const short = spec.short === undefined ? '' : `-${spec.short}, `
    return [`  ${short}--${name}${spec.value === undefined ? '' : ` ${spec.value}`}`, spec.help]
  })
  // Reuse the table layout, without its heading line.
  return formatTable(['', ''], rows).split('\n').slice(1).join('\n')
}

/** The top-level usage: every command with its summary, the global options, the exit codes. */
export function topUsage(commands: readonly CommandSpec[]): string {
  const rows = commands.map((command) => [`  ${commandName(command)}`, command.summary])
  return (
    'flexseat: the admin command line of the flexseat seat registry\n\n' +
    'Usage: flexseat <command> [options]\n' +
    '       flexseat help <command>      (or flexseat <command> --help)\n\n' +
    'Commands:\n' +
    formatTable(['', ''], rows).split('\n').slice(1).join('\n') +
    '\nGlobal options:\n' +
    optionLines(GLOBAL_OPTIONS) +
    '\nPINs and tokens are never printed. Tables by default; --json prints one JSON document\n' +
    '(timestamps as ISO strings, 64-bit numbers as strings).\n' +
    EXIT_CODES
  )
}

/** The usage of one command: synopsis, summary, details, its options, then the global options. */
export function commandUsage(command: CommandSpec): string {
  const synopsis = `flexseat ${commandName(command)}${command.synopsis === '' ? '' : ` ${command.synopsis}`}`
  return (
    `Usage: ${synopsis}\n\n` +
    `${command.summary}\n` +
    (command.details === undefined ? '' : `\n${command.details}\n`) +
    (command.options.length === 0 ? '' : `\nOptions:\n${optionLines(command.options)}`) +
    `\nGlobal options:\n${optionLines(GLOBAL_OPTIONS)}` +
    EXIT_CODES
  )
}

/** The usage of a group of commands ("user"): each subcommand's synopsis and summary. */
export function groupUsage(group: string, commands: readonly CommandSpec[]): string {
  const members = commands.filter((command) => command.path[0] === group && command.path.length > 1)
  const lines = members.map((command) => `  flexseat ${commandName(command)} ${command.synopsis}`.trimEnd() + `\n      ${command.summary}\n`)
  return `Usage:\n${lines.join('')}Run 'flexseat ${group} <command> --help' for details.\n`
}

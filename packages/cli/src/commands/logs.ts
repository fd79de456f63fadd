import { resolve } from 'node:path'
import { formatLogLine, listProcessLogs, logsDir, type ProcessLogFile, parseLogLine, readProcessLog } from '@flexseat/sim'
import { CliError } from '../errors'
import { ExitCode } from '../exit-codes'
import { formatTable } from '../format-table'
import type { CommandSpec } from './command'

/** `HH:MM:SS.mmm` of a record's time (pino's epoch ms, etcd's ISO `ts`), '' when it has none. */
function timeOf(record: Record<string, unknown> | undefined): string {
  const raw = record?.time ?? record?.ts
  const date = typeof raw === 'number' || typeof raw === 'string' ? new Date(raw) : undefined
  return date === undefined || Number.isNaN(date.getTime()) ? '' : date.toISOString().slice(11, 23)
}

function describe(files: readonly ProcessLogFile[]): string {
  return formatTable(
    ['SITE', 'KIND', 'SIZE', 'LAST WRITTEN', 'FILE'],
    files.map((file) => [file.site, file.kind || '(the launcher)', `${Math.ceil(file.bytes / 1024)} KiB`, file.modified.toISOString().slice(0, 19).replace('T', ' '), file.path]),
  )
}

const logs: CommandSpec = {
  path: ['logs'],
  synopsis: '[SITE [KIND]] [-f]',
  summary: 'show the log of a process of the simulation (`npm start` keeps one per process)',
  details:
    'Reads <state>/logs/<site>-<kind>.log, where `npm start` writes every line of each process\n' +
    '(KIND: registry, sip-node, sip-engine, etcd; `flexseat logs sim` is what the terminal showed).\n' +
    'Without SITE: lists the logs; with SITE alone: that site\'s logs. JSON records are shortened\n' +
    'to "time LEVEL message key=value" (--raw: as written). -f keeps printing what is appended\n' +
    'until Ctrl-C. The state folder: --state-dir, else FLEXSEAT_STATE_DIR, else ./.state.\n' +
    'Needs no registry and no token.',
  options: ['state-dir', 'follow', 'raw'],
  positionals: { min: 0, max: 2, names: 'SITE KIND' },
  async run(context) {
    const { input } = context
    const stateDir = resolve(input.string('state-dir') ?? (context.env.FLEXSEAT_STATE_DIR || '.state'))
    const files = await listProcessLogs(stateDir)
    if (files.length === 0) {
      throw new CliError(`no logs in ${logsDir(stateDir)} (is the simulation started there? --state-dir names another state folder)`, ExitCode.Refused)
    }
    const [site, kind] = input.positionals
    const ofSite = site === undefined ? files : files.filter((file) => file.site === site)
    if (ofSite.length === 0) throw new CliError(`no logs of site "${site}" in ${logsDir(stateDir)}; there are:\n${describe(files)}`, ExitCode.Refused)
    const chosen = kind === undefined ? (ofSite.length === 1 ? ofSite[0] : undefined) : ofSite.find((file) => file.kind === kind)
    if (chosen === undefined) {
      if (kind === undefined) {
        context.print(describe(ofSite))
        return
      }
      throw new CliError(`no ${kind} log of ${site} in ${logsDir(stateDir)}; there are:\n${describe(ofSite)}`, ExitCode.Refused)
    }
    const raw = input.flag('raw')
    await readProcessLog(
      chosen.path,
      (text) => {
        if (raw) return context.print(`${text}\n`)
        const line = parseLogLine(text)
        const time = timeOf(line.record)
        context.print(`${time === '' ? '' : `${time} `}${formatLogLine(line)}\n`)
      },
      { follow: input.flag('follow'), signal: context.signal },
    )
  },
}

/** The `logs` command. */
export const LOGS_COMMANDS: readonly CommandSpec[] = [logs]

#!/usr/bin/env node
/**
 * `flexseat-check <run-dir>`: runs every checker over a chaos run's directory and prints the
 * report. Exit status: 0 no violation, 1 violations, 2 bad usage or an unreadable run, 3 no
 * violation but a checker could not decide (unknown).
 */
import { checkRun, type CheckOptions } from './check-run'
import { formatReport } from './format'

const USAGE = `usage: flexseat-check <run-dir> [--json] [--phone-bound-ms N] [--max-steps N] [--request-ids auto|yes|no]
                      [--watch-site CLIENT=SITE]...
  Checks history.jsonl, watch.jsonl, phones.jsonl and etcd's history (etcd.json; etcd must still run).
  exit 0: no violation; 1: violations; 2: usage or unreadable run; 3: a checker could not decide.`

function positiveInt(flag: string, text: string | undefined): number {
  const n = Number(text)
  if (text === undefined || !Number.isSafeInteger(n) || n < 0) throw new UsageError(`${flag} needs a whole number`)
  return n
}

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  let dir: string | undefined
  let json = false
  const options: CheckOptions = { unknownAs: 'separate' }
  const sites: Record<string, string> = {}
  try {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!
      if (a === '--json') json = true
      else if (a === '--phone-bound-ms') options.phoneBoundMs = positiveInt(a, argv[++i])
      else if (a === '--max-steps') options.maxSteps = positiveInt(a, argv[++i])
      else if (a === '--request-ids') {
        const mode = argv[++i]
        if (mode !== 'auto' && mode !== 'yes' && mode !== 'no') throw new UsageError('--request-ids needs auto, yes or no')
        options.requestIds = mode
      }
      else if (a === '--watch-site') {
        const [client, site] = (argv[++i] ?? '').split('=')
        if (!client || site === undefined) throw new UsageError('--watch-site needs CLIENT=SITE')
        sites[client] = site
      } else if (a === '-h' || a === '--help') {
        process.stdout.write(USAGE + '\n')
        return 0
      } else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`)
      else if (dir === undefined) dir = a
      else throw new UsageError('one run directory only')
    }
    if (dir === undefined) throw new UsageError('the run directory is missing')
  } catch (error) {
    process.stderr.write(`flexseat-check: ${(error as Error).message}\n${USAGE}\n`)
    return 2
  }
  if (Object.keys(sites).length > 0) options.watchSites = sites
  let report
  try {
    report = await checkRun(dir, options)
  } catch (error) {
    process.stderr.write(`flexseat-check: ${(error as Error).message}\n`)
    return 2
  }
  process.stdout.write(json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report))
  if (report.violations.length > 0) return 1
  return (report.unknown ?? []).length > 0 ? 3 : 0
}

void main(process.argv.slice(2)).then((code) => process.stdout.write('', () => process.exit(code)))

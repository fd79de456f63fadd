import { parseChaosArgs, USAGE } from './args'
import { ChaosError } from './errors'
import { formatText } from './report'
import { runChaos } from './run'

/** `npm run chaos` / `flexseat-chaos`: exit 0 checked and clean, 1 violations, 2 bad option or failed run, 3 not checked or a checker undecided. */
async function main(): Promise<number> {
  let options
  try {
    options = parseChaosArgs(process.argv.slice(2))
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (options === 'help') {
    process.stdout.write(USAGE)
    return 0
  }
  const stop = new Promise<never>((_, reject) => {
    const onSignal = (signal: NodeJS.Signals): void => reject(new ChaosError('CLUSTER_FAILED', `stopped by ${signal}`))
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  })
  stop.catch(() => undefined)
  try {
    const result = await runChaos({ ...options, log: (line) => process.stderr.write(`[chaos ${new Date().toISOString()}] ${line}\n`) })
    process.stdout.write(formatText(result.report))
    process.stdout.write(`\nreport: ${result.dir}/report.html\n`)
    if (result.report.check === undefined) return 3
    if (result.violations > 0) return 1
    // A checker that could not decide (its search bound reached) is not a pass.
    return (result.report.check.unknown ?? []).length > 0 ? 3 : 0
  } catch (error) {
    process.stderr.write(`chaos run failed: ${(error as Error).stack ?? String(error)}\n`)
    return 2
  }
}

main().then((code) => {
  process.exitCode = code
})

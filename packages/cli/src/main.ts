#!/usr/bin/env node
// The `flexseat` command: wires the process (argv, stdio, environment, SIGINT) to run().
import { run } from './cli'
import { ExitCode } from './exit-codes'

const controller = new AbortController()
let interrupted = false
const onSigint = (): void => {
  // The first Ctrl-C ends the command cleanly (watch exits 0); a second one leaves at once.
  if (interrupted) process.exit(ExitCode.Interrupted)
  interrupted = true
  controller.abort()
}
process.on('SIGINT', onSigint)
// A reader that went away (flexseat seats | head) is not an error worth a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(ExitCode.Ok)
  throw error
})

void run(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: controller.signal,
}).then((code) => {
  // Leave once stdout is flushed: stdin may still hold the event loop open.
  process.stdout.write('', () => process.exit(code))
})

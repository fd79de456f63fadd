import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'

// The README tells users to run `npx flexseat ...`: npm must have linked the command on
// `npm ci` (before any build), and the linked file must be executable and reach the CLI.
t.test('node_modules/.bin/flexseat runs the CLI', async (t) => {
  const bin = join(__dirname, '..', '..', 'node_modules', '.bin', 'flexseat')
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    execFile(bin, ['help'], { timeout: 10_000 }, (error, stdout) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout }))
  })
  t.equal(code, 0, 'flexseat help exits 0')
  t.match(stdout, /Usage: flexseat <command>/, 'prints the usage')
})

// The README's multi-host mode runs `npx flexseat-sim cut|heal|clean` and the demo may be run as
// `npx flexseat-demo`: both are linked on `npm ci` through committed shims too.
t.test('node_modules/.bin/flexseat-sim and flexseat-demo reach the simulation', async (t) => {
  for (const [name, pattern] of [['flexseat-sim', /usage: flexseat-sim/], ['flexseat-demo', /usage: flexseat-demo/]] as const) {
    const bin = join(__dirname, '..', '..', 'node_modules', '.bin', name)
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      execFile(bin, ['--help'], { timeout: 10_000 }, (error, stdout) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout }))
    })
    t.equal(code, 0, `${name} --help exits 0`)
    t.match(stdout, pattern, `${name} prints its usage`)
  }
})

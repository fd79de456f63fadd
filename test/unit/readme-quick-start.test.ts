import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// A fresh Debian container is a root shell without sudo: no line a reader copies may start with
// it, and the install script must escalate by itself only where it is not root.
const ROOT = join(__dirname, '..', '..')
const SCRIPT = join(ROOT, 'scripts', 'install-system-packages.sh')

function markdownFiles(): string[] {
  const files = [join(ROOT, 'README.md')]
  for (const name of readdirSync(join(ROOT, 'docs'))) if (name.endsWith('.md')) files.push(join(ROOT, 'docs', name))
  for (const name of readdirSync(join(ROOT, 'packages'))) {
    try {
      readFileSync(join(ROOT, 'packages', name, 'README.md'))
      files.push(join(ROOT, 'packages', name, 'README.md'))
    } catch {
      // a package without a README
    }
  }
  return files
}

/** The lines inside ``` fences of a Markdown text. */
function codeLines(text: string): string[] {
  const lines: string[] = []
  let inside = false
  for (const line of text.split('\n')) {
    if (line.trimStart().startsWith('```')) inside = !inside
    else if (inside) lines.push(line)
  }
  return lines
}

t.test('no command in the README or docs starts with sudo', async (t) => {
  for (const file of markdownFiles()) {
    const offending = codeLines(readFileSync(file, 'utf8')).filter((line) => /^\s*(\$\s*)?sudo\s/.test(line))
    t.same(offending, [], file)
  }
  const quickStart = codeLines(readFileSync(join(ROOT, 'README.md'), 'utf8')).find((line) => line.includes('install-system-packages'))
  t.match(quickStart, /^scripts\/install-system-packages\.sh && npm ci && npm start/)
})

/** Runs the install script with a PATH holding only bash, env and the given fakes. */
function runScript(fakes: Record<string, string>): { status: number | null; stderr: string; calls: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fxs-install-'))
  try {
    for (const tool of ['bash', 'env']) symlinkSync(`/usr/bin/${tool}`, join(dir, tool))
    const log = join(dir, 'calls.log')
    writeFileSync(log, '')
    for (const [name, body] of Object.entries(fakes)) {
      writeFileSync(join(dir, name), `#!/usr/bin/env bash\n${body.replaceAll('LOG', log)}\n`)
      chmodSync(join(dir, name), 0o755)
    }
    const run = spawnSync(SCRIPT, [], { env: { PATH: dir }, encoding: 'utf8' })
    return { status: run.status, stderr: run.stderr, calls: readFileSync(log, 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const APT = 'echo "apt-get $*" >> LOG'

t.test('as root, the script calls apt-get itself', async (t) => {
  const run = runScript({ id: 'echo 0', 'apt-get': APT })
  t.equal(run.status, 0, run.stderr)
  t.match(run.calls, /^apt-get update/m)
  t.match(run.calls, /^apt-get install .*etcd-server/m)
})

t.test('as a user, the script escalates through sudo', async (t) => {
  const run = runScript({ id: 'echo 1000', 'apt-get': APT, sudo: 'echo "sudo $*" >> LOG' })
  t.equal(run.status, 0, run.stderr)
  t.match(run.calls, /^sudo apt-get update/m)
  t.notMatch(run.calls, /^apt-get/m)
})

t.test('as a user without sudo, the script says to run it as root', async (t) => {
  const run = runScript({ id: 'echo 1000', 'apt-get': APT })
  t.equal(run.status, 1)
  t.match(run.stderr, /run this as root/)
  t.equal(run.calls, '')
})

import t, { type Test as Tap } from 'tap'
import { execFileSync } from 'node:child_process'
import { CLI_MAIN } from '../helpers/cli'
import { freePorts, TetheredProcess } from '@flexseat/sim'

// PINs typed at a terminal: the real `flexseat` on a pseudo-terminal. Node has no pty of its own,
// so a short python3 script (pty.fork) plays the terminal: it waits for each prompt, types the
// answer, and reports everything the terminal showed and the exit code. The registry address is
// unreachable on purpose: the command reads the PINs first, then fails with exit 3.


const TERMINAL = `
import json, os, pty, select, sys, time
args, steps = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(args[0], args)
shown = b''
def wait_for(text, timeout):
    global shown
    end = time.time() + timeout
    while text.encode() not in shown and time.time() < end:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            shown += chunk
for prompt, typed in steps:
    wait_for(prompt, 10)
    os.write(fd, typed.encode())
wait_for('\\0', 10)
_, status = os.waitpid(pid, 0)
print(json.dumps({'shown': shown.decode(errors='replace'), 'code': os.waitstatus_to_exitcode(status)}))
`

function hasPython(): boolean {
  try {
    execFileSync('python3', ['-c', 'import pty'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

async function atTerminal(t: Tap, args: string[], steps: [prompt: string, typed: string][]): Promise<{ shown: string; code: number }> {
  // A tethered process does not hold the event loop: hold it while waiting for this one.
  const keepAlive = setInterval(() => undefined, 1_000)
  t.teardown(() => clearInterval(keepAlive))
  const child = await TetheredProcess.spawn('python3', ['-c', TERMINAL, JSON.stringify([process.execPath, CLI_MAIN, ...args]), JSON.stringify(steps)])
  t.teardown(() => child.kill())
  let out = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => (out += chunk))
  await child.exited
  await new Promise((resolve) => (child.stdout.readableEnded ? resolve(undefined) : child.stdout.once('end', resolve)))
  clearInterval(keepAlive)
  return JSON.parse(out) as { shown: string; code: number }
}

t.test('PINs are prompted for on a terminal and never echoed', { skip: hasPython() ? false : 'python3 with pty is not installed' }, async (t) => {
  const [port] = await freePorts(1)
  const registry = ['--registry', `127.0.0.1:${port}`, '--timeout', '2000']

  const change = await atTerminal(t, ['pin', 'change', '--ext', '1001', ...registry], [
    ['old PIN: ', '4821\r'],
    ['new PIN: ', '7395\r'],
    ['repeat new PIN: ', '7395\r'],
  ])
  t.match(change.shown, /^old PIN: \r\nnew PIN: \r\nrepeat new PIN: \r\nflexseat: the registry at 127\.0\.0\.1:\d+ is unavailable/, 'prompts, no echo')
  // Everything the terminal showed before the error line (whose port number could hold any digits).
  t.notMatch(change.shown.split('flexseat:')[0], /\d/, 'no PIN shown, not even in part')
  t.equal(change.code, 3, 'the PINs were read, then the unreachable registry was reported')

  const differ = await atTerminal(t, ['user', 'reset-pin', 'ada', ...registry], [
    ['new PIN: ', '1234\r'],
    ['repeat new PIN: ', '1243\r'],
  ])
  t.match(differ.shown, /flexseat: the two entries of the new PIN differ\r\n$/)
  t.equal(differ.code, 2)

  const interrupted = await atTerminal(t, ['login', '1001', '--device', 'desk-1', '--pin-stdin', ...registry], [['PIN: ', '12\u0003']])
  t.match(interrupted.shown, /^PIN: \r\nflexseat: interrupted\r\n$/)
  t.equal(interrupted.code, 130, 'Ctrl-C at the prompt')
})

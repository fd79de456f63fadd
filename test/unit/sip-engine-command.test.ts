/**
 * The `flexseat-sip-engine` command: drachtio-server's flags, port 0 reported as one JSON line on
 * stdout, SIGTERM stops it, a bad flag exits 2.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import * as path from 'node:path'

const MAIN = path.resolve(__dirname, '../../packages/sip-engine/dist/main.js')

t.test('prints the bound ephemeral ports and stops on SIGTERM', async (t) => {
  const p = spawn(process.execPath, [MAIN, '--contact', 'sip:127.0.0.1:0;transport=udp,tcp', '--address', '127.0.0.1', '--port', '0', '--secret', 's', '--loglevel', 'error'], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (p.exitCode === null) p.kill('SIGKILL')
  })
  let out = ''
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  const end = Date.now() + 5000
  while (!out.includes('\n') && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
  const line = JSON.parse(out.split('\n')[0]!) as { event: string; control: { port: number }; sip: { transport: string; port: number }[] }
  t.equal(line.event, 'listening')
  t.ok(line.control.port > 0)
  t.same(line.sip.map((s) => s.transport), ['udp', 'tcp'])
  t.ok(line.sip[0]!.port > 0 && line.sip[0]!.port === line.sip[1]!.port)
  const exited = once(p, 'exit')
  p.kill('SIGTERM')
  const [code] = await exited
  t.equal(code, 0, 'graceful exit')
})

t.test('a bad flag exits 2', async (t) => {
  const p = spawn(process.execPath, [MAIN, '--nonsense'], { stdio: 'ignore' })
  const [code] = await once(p, 'exit')
  t.equal(code, 2)
})

/**
 * SipEngine as a library: ephemeral ports readable after start, documented states, idempotent
 * stop, a failed start releasing its sockets; drachtio-server's command-line flags.
 */
import t from 'tap'
import * as net from 'node:net'
import { once } from 'node:events'
import { parseCommandLine, parseContact, SipEngine } from '@flexseat/sip-engine'

t.test('ephemeral ports, states, idempotent stop', async (t) => {
  const engine = new SipEngine({ contacts: [{ address: '127.0.0.1', port: 0, transports: ['udp', 'tcp'] }], controlPort: 0 })
  t.equal(engine.state, 'created')
  await engine.start()
  t.equal(engine.state, 'running')
  const [udp, tcp] = engine.sipAddresses
  t.ok(udp!.port > 0 && udp!.port === tcp!.port, 'UDP and TCP share the ephemeral port')
  t.ok(engine.controlPort > 0)
  t.equal(engine.hostports, `udp/127.0.0.1:${udp!.port},tcp/127.0.0.1:${udp!.port}`)
  const s = net.connect({ host: '127.0.0.1', port: engine.controlPort })
  await once(s, 'connect')
  const closed = once(s, 'close')
  await Promise.all([engine.stop(), engine.stop()])
  await closed
  t.equal(engine.state, 'stopped')
  await engine.stop()
  t.equal(engine.state, 'stopped', 'stop is idempotent')
  await t.rejects(engine.start(), { code: 'STATE' })
})

t.test('a failed start releases what it bound', async (t) => {
  const first = await SipEngine.create({ contacts: [{ address: '127.0.0.1', port: 0, transports: ['udp'] }], controlPort: 0 })
  t.teardown(() => first.stop())
  const busy = first.controlPort
  const second = new SipEngine({ contacts: [{ address: '127.0.0.1', port: 0, transports: ['udp', 'tcp'] }], controlPort: busy })
  await t.rejects(second.start(), { code: 'TRANSPORT' })
  t.equal(second.state, 'failed')
})

t.test("drachtio-server's flags", async (t) => {
  const cl = parseCommandLine(['--contact', 'sip:127.0.0.1:5070;transport=tcp', '--contact=sip:*;transport=udp', '--address', '0.0.0.0', '--port', '9023', '--secret', 's3', '--loglevel', 'debug'])
  t.same(cl.config.contacts, [
    { address: '127.0.0.1', port: 5070, transports: ['tcp'] },
    { address: '0.0.0.0', port: 5060, transports: ['udp'] },
  ])
  t.match(cl.config, { controlAddress: '0.0.0.0', controlPort: 9023, secret: 's3' })
  t.equal(cl.logLevel, 'debug')
  t.throws(() => parseCommandLine(['--bogus']), { code: 'CONFIG' })
  t.throws(() => parseCommandLine(['--port', '70000']), { code: 'CONFIG' })
  t.throws(() => parseContact('sip:1.2.3.4;transport=tls'), { code: 'CONFIG' })
})

t.test('--sip-t1 (the engine only): T1 in ms, T2 and T4 unchanged', async (t) => {
  t.same(parseCommandLine([]).config.timers, { T1: 500, T2: 4000, T4: 5000 }, 'defaults')
  t.same(parseCommandLine(['--sip-t1', '100']).config.timers, { T1: 100, T2: 4000, T4: 5000 })
  t.same(parseCommandLine(['--sip-t1=250']).config.timers.T1, 250)
  for (const bad of [['--sip-t1', '0'], ['--sip-t1', '1.5'], ['--sip-t1', 'x'], ['--sip-t1']]) {
    t.throws(() => parseCommandLine(bad), { code: 'CONFIG' }, bad.join(' '))
  }
})

t.test('TCP limit flags (the engine only): caps and idle timeouts, sane defaults', async (t) => {
  t.same(parseCommandLine([]).config.tcp, { maxConnections: 10_000, maxPerSource: 256, idleMs: 300_000, pressureIdleMs: 10_000 }, 'defaults')
  const cl = parseCommandLine(['--tcp-max-connections', '500', '--tcp-max-connections-per-source=20', '--tcp-idle-timeout', '60', '--tcp-pressure-idle-timeout', '0.5'])
  t.same(cl.config.tcp, { maxConnections: 500, maxPerSource: 20, idleMs: 60_000, pressureIdleMs: 500 })
  for (const bad of [['--tcp-max-connections', '0'], ['--tcp-max-connections', '1.5'], ['--tcp-max-connections-per-source', 'x'], ['--tcp-idle-timeout', '-1'], ['--tcp-pressure-idle-timeout']]) {
    t.throws(() => parseCommandLine(bad), { code: 'CONFIG' }, bad.join(' '))
  }
})

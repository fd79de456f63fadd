/**
 * Starts a SIP engine for a test as a child process through its command line, with
 * drachtio-server's flags, so the same test runs on a real drachtio-server in its twin
 * (test/drachtio-server/, see engines.ts). Every process is killed in t.teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as path from 'node:path';
import { once } from 'node:events';
import { candidatePort, claimPort, EMBEDDED_ENGINE_NODE_FLAGS } from '@flexseat/sim';
import { DRACHTIO_READY_LINE, drachtioServerArgs, onRealDrachtio, requireDrachtioServerBin } from './engines';
import { createSrf, type SrfApp } from './srf';

/** The tap test object, as far as the helpers use it. */
export interface TestLike {
  teardown(fn: () => void | Promise<void>): void;
}

/** A running engine. */
export interface EngineHandle {
  sipPort: number;
  controlPort: number;
  secret: string;
  proc: ChildProcess;
  /** stderr collected so far (for failure messages). */
  logs(): string;
}

const MAIN = path.resolve(__dirname, '../../packages/sip-engine/dist/main.js');

/** A port free for both UDP and TCP on 127.0.0.1, picked as @flexseat/sim's candidatePort does. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = candidatePort();
    const srv = net.createServer();
    const listening = await new Promise<boolean>((resolve) => {
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!listening) continue;
    const udp = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((r) => srv.close(() => r()));
    await new Promise<void>((r) => {
      try {
        udp.close(() => r());
      } catch {
        r();
      }
    });
    if (ok && claimPort(port)) return port;
  }
  throw new Error('no free port');
}

/** Resolves when fn() is true, polling every 25 ms, or rejects at the deadline. */
export async function waitFor(fn: () => boolean | Promise<boolean>, deadlineMs: number, what: string): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Kills a child process and waits for it (SIGKILL after 2 s). */
export async function kill(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(t);
}

/**
 * Whether the engine under test is a real drachtio-server (engines.ts: FLEXSEAT_TEST_ENGINE, set
 * by a twin in test/drachtio-server/). Read when this module is first loaded, which a twin does
 * after it made its choice.
 */
export const REAL_DRACHTIO = onRealDrachtio();

/**
 * Starts the engine under test (engines.ts) on fresh ports; killed at teardown. The embedded
 * engine binds port 0 and prints the ports it got (no race between parallel test files);
 * drachtio-server cannot report ephemeral ports, so it gets ports probed free beforehand, and is
 * started again on other ports when it could not bind them (it then exits at once).
 */
export async function startEngine(t: TestLike, opts: { secret?: string; engineArgs?: string[] } = {}): Promise<EngineHandle> {
  const secret = opts.secret ?? 'cymru';
  if (REAL_DRACHTIO) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await startDrachtioServer(t, secret);
      } catch (err) {
        if (attempt >= 3 || !(err instanceof EarlyExit)) throw err;
      }
    }
  }
  const args = ['--contact', 'sip:127.0.0.1:0;transport=udp,tcp', '--address', '127.0.0.1', '--port', '0', '--secret', secret, '--loglevel', 'info'];
  // engineArgs: flags only the embedded engine has (drachtio-server would refuse them)
  const proc = spawn(process.execPath, [...EMBEDDED_ENGINE_NODE_FLAGS, MAIN, ...args, ...(opts.engineArgs ?? [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  let stdout = '';
  proc.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
  proc.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  t.teardown(() => kill(proc));
  let listening: { control: { port: number }; sip: { transport: string; port: number }[] } | undefined;
  await waitFor(() => {
    if (proc.exitCode !== null) throw new Error(`engine exited early: ${logs}`);
    const line = stdout.split('\n').find((l) => l.includes('"event":"listening"'));
    if (line) listening = JSON.parse(line) as typeof listening;
    return listening !== undefined;
  }, 5000, 'engine listening line');
  return { sipPort: listening!.sip[0]!.port, controlPort: listening!.control.port, secret, proc, logs: () => logs };
}

/** drachtio-server exited before it was ready (a port probed free was taken meanwhile). */
class EarlyExit extends Error {}

async function startDrachtioServer(t: TestLike, secret: string): Promise<EngineHandle> {
  const sipPort = await freePort();
  const controlPort = await freePort();
  const proc = spawn(requireDrachtioServerBin(), drachtioServerArgs({ sipPort, controlPort, secret }), { stdio: ['ignore', 'pipe', 'pipe'] });
  // drachtio-server logs to stderr (its console sink); both streams are kept for failure messages.
  let logs = '';
  proc.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
  t.teardown(() => kill(proc));
  await waitFor(() => {
    if (proc.exitCode !== null) throw new EarlyExit(`drachtio-server exited early: ${logs.slice(-2000)}`);
    return logs.includes(DRACHTIO_READY_LINE);
  }, 5000, 'drachtio-server SIP stack');
  return { sipPort, controlPort, secret, proc, logs: () => logs };
}

/** A bare UDP endpoint on 127.0.0.1 standing in for a phone; closed at teardown. */
export interface UdpPeer {
  port: number;
  /** Every datagram received, as text, in order. */
  received: string[];
  send(text: string, port: number): void;
  /** Resolves with the first received message (already there or future) matching `test`. */
  next(test: (m: string) => boolean, ms: number, what: string): Promise<string>;
}

/** Binds a {@link UdpPeer} on an ephemeral port. */
export async function udpPeer(t: TestLike): Promise<UdpPeer> {
  const sock = dgram.createSocket('udp4');
  t.teardown(() => new Promise<void>((r) => {
    try {
      sock.close(() => r());
    } catch {
      r();
    }
  }));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const received: string[] = [];
  const waiters = new Set<() => void>();
  sock.on('message', (m) => {
    received.push(m.toString('utf8'));
    for (const w of [...waiters]) w();
  });
  return {
    port: sock.address().port,
    received,
    send: (text, port) => sock.send(text, port, '127.0.0.1'),
    next: (test, ms, what) => {
      const found = received.find(test);
      if (found !== undefined) return Promise.resolve(found);
      let check: () => void = () => undefined;
      const p = new Promise<string>((resolve) => {
        check = (): void => {
          const m = received.find(test);
          if (m !== undefined) {
            waiters.delete(check);
            resolve(m);
          }
        };
        waiters.add(check);
      });
      return deadline(p, ms, what).finally(() => waiters.delete(check));
    },
  };
}

/** A header line (`Name: value`) of a SIP message, or '' (first occurrence). */
export function headerLine(msg: string, name: string): string {
  return new RegExp(`^${name}:.*$`, 'im').exec(msg)?.[0] ?? '';
}

/** Builds a response to a request received as text: Via/From/To/Call-ID/CSeq copied, a To-tag added. */
export function responseTo(req: string, status: string, opts: { toTag?: string; headers?: string[]; body?: string } = {}): string {
  const vias = req.split('\r\n').filter((l) => /^(via|v):/i.test(l));
  let to = headerLine(req, 'To');
  if (opts.toTag && !/;tag=/i.test(to)) to += `;tag=${opts.toTag}`;
  const body = opts.body ?? '';
  return [`SIP/2.0 ${status}`, ...vias, headerLine(req, 'From'), to, headerLine(req, 'Call-ID'), headerLine(req, 'CSeq'), ...(opts.headers ?? []), `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n');
}

/** Connects a drachtio-srf application to the engine; disconnected at teardown. */
export async function connectSrf(t: TestLike, engine: EngineHandle): Promise<SrfApp> {
  const srf = createSrf();
  const connected = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('srf did not connect')), 5000);
    srf.once('connect', (err: Error | null) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    });
  });
  srf.on('error', () => undefined);
  srf.connect({ host: '127.0.0.1', port: engine.controlPort, secret: engine.secret });
  t.teardown(() => {
    try {
      srf.disconnect();
    } catch {
      // already gone
    }
  });
  await connected;
  return srf;
}

/** Resolves with the value an event-ish callback produces, or rejects at the deadline. */
export function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    }),
  ]);
}

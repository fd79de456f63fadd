/**
 * Starts a SIP engine for a test as a child process through its command line, with
 * drachtio-server's flags, so the same test runs against a real drachtio-server when
 * DRACHTIO_SERVER_BIN is set. Ports are picked by binding port 0 first (drachtio-server cannot
 * report ephemeral ports). Every process is killed in t.teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as path from 'node:path';
import { once } from 'node:events';
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

/** A port free for both UDP and TCP on 127.0.0.1. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as net.AddressInfo).port;
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
    if (ok) return port;
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

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
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

/** Starts the engine (or DRACHTIO_SERVER_BIN) on fresh ports; killed at teardown. */
export async function startEngine(t: TestLike, opts: { secret?: string } = {}): Promise<EngineHandle> {
  const sipPort = await freePort();
  const controlPort = await freePort();
  const secret = opts.secret ?? 'cymru';
  const args = ['--contact', `sip:127.0.0.1:${sipPort};transport=udp,tcp`, '--address', '127.0.0.1', '--port', String(controlPort), '--secret', secret, '--loglevel', 'info'];
  const bin = process.env.DRACHTIO_SERVER_BIN;
  const proc = bin ? spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  proc.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
  proc.stdout?.on('data', () => undefined);
  t.teardown(() => kill(proc));
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`engine exited early: ${logs}`);
    return canConnect(controlPort);
  }, 5000, 'engine control port');
  return { sipPort, controlPort, secret, proc, logs: () => logs };
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

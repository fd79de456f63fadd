/**
 * Runs sipp scenarios from test/fixtures/sipp as child processes (killed at teardown), on ports
 * picked free beforehand.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { freePort, kill, waitFor, type TestLike } from './sip-engine';

const FIXTURES = path.resolve(__dirname, '../fixtures/sipp');

/** sipp transport flag for udp / tcp (one socket). */
export type SippTransport = 'udp' | 'tcp';

/** Result of a finished sipp run. */
export interface SippResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A started sipp. */
export interface SippHandle {
  port: number;
  proc: ChildProcess;
  /** Resolves when sipp exits. */
  done: Promise<SippResult>;
}

/** Options of {@link startSipp}. */
export interface SippOptions {
  scenario: string;
  transport: SippTransport;
  /** `host:port` to send to (UAC); omitted for a UAS. */
  remote?: string;
  /** Number of calls before exiting (default 1). */
  calls?: number;
  /** Call rate per second (UAC). */
  rate?: number;
  /** Global timeout in seconds (default 10): sipp fails when reached. */
  timeoutSec?: number;
  /** Extra arguments. */
  args?: string[];
  /** Local port (default: a free one). */
  port?: number;
}

/** sipp could not bind a port picked free beforehand (another process took it meanwhile). */
const BIND_RACE = /Address already in use|Unable to bind/i;

/**
 * Starts sipp; it is killed at teardown if still running. Ports are probed free just before, so
 * another process may take one first: a sipp that fails to bind is restarted on fresh ports (up
 * to 3 times). The remote-control port is left to sipp (it scans from 8888 for a free one).
 */
export async function startSipp(t: TestLike, opts: SippOptions): Promise<SippHandle> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startSippOnce(t, opts);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof Error) || !BIND_RACE.test(err.message)) throw err;
    }
  }
}

async function startSippOnce(t: TestLike, opts: SippOptions): Promise<SippHandle> {
  const port = opts.port ?? (await freePort());
  const mp = await freePort();
  const args = [
    ...(opts.remote ? [opts.remote] : []),
    '-sf', path.join(FIXTURES, opts.scenario),
    '-i', '127.0.0.1', '-p', String(port), '-mp', String(mp),
    '-t', opts.transport === 'tcp' ? 't1' : 'u1',
    '-m', String(opts.calls ?? 1),
    '-nostdin', '-timeout', `${opts.timeoutSec ?? 10}s`, '-timeout_error',
    ...(opts.rate !== undefined ? ['-r', String(opts.rate)] : []),
    ...(opts.args ?? []),
  ];
  const proc = spawn('sipp', args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/tmp' });
  let stdout = '';
  let stderr = '';
  proc.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<SippResult>((resolve) => {
    proc.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
  t.teardown(() => kill(proc));
  if (!opts.remote) {
    // a UAS must be listening before anyone sends to it (no retransmission saves a TCP connect)
    let exited = false;
    void done.then(() => (exited = true));
    await waitFor(() => {
      if (exited) throw new Error(`sipp exited early: ${stderr}`);
      return isBound(port, opts.transport);
    }, 5000, `sipp listening on ${opts.transport} ${port}`);
  }
  return { port, proc, done };
}

/** Whether a local port is bound (LISTEN for tcp), read from /proc/net without touching it. */
export function isBound(port: number, transport: SippTransport): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  const table = readFileSync(`/proc/net/${transport}`, 'utf8').split('\n');
  return table.some((line) => {
    const cols = line.trim().split(/\s+/);
    return (cols[1] + ' ').includes(hex) && (transport === 'udp' || cols[3] === '0A');
  });
}

/** Runs a UAC scenario to completion (restarted on fresh ports when sipp could not bind). */
export async function runSipp(t: TestLike, opts: SippOptions): Promise<SippResult> {
  for (let attempt = 1; ; attempt++) {
    const h = await startSipp(t, opts);
    const r = await h.done;
    if (r.code === 0 || attempt >= 3 || opts.port !== undefined || !BIND_RACE.test(r.stderr)) return r;
  }
}

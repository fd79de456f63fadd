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
  /** Local address (default 127.0.0.1); any 127.x.y.z works on Linux loopback. */
  localAddress?: string;
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
    '-i', opts.localAddress ?? '127.0.0.1', '-p', String(port), '-mp', String(mp),
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

/** One SIP message of a sipp message log (`-trace_msg -message_file <file>`). */
export interface SippTraceEntry {
  /** When sipp sent or received it, in ms since the epoch (sipp logs local time to the µs). */
  time: number;
  direction: 'sent' | 'received';
  /** The message as on the wire (lines joined with \n). */
  text: string;
  /** The request method, or undefined for a response. */
  method: string | undefined;
  /** The Request-URI of a request. */
  uri: string | undefined;
  /** The status code of a response. */
  status: number | undefined;
  /** The reason phrase of a response. */
  reason: string | undefined;
  /** The CSeq method (for a response: the method it answers). */
  cseqMethod: string;
  /** The body ('' when none). */
  body: string;
  /** The first value of a header (compact forms understood), or '' when absent. */
  header(name: string): string;
  /** Every value of a header, in order. */
  headers(name: string): string[];
}

/** Compact header forms (RFC 3261 §7.3.3 and extensions). */
const COMPACT: Record<string, string> = { v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', c: 'content-type', l: 'content-length', k: 'supported', e: 'content-encoding', s: 'subject', o: 'event' };

/**
 * Parses a sipp message log. An entry starts with a line of dashes followed by the local date
 * and time (`----- 2026-11-22 05:35:37.716712`), then `UDP message received [N] bytes :` or
 * `UDP message sent (N bytes):`, a blank line and the message. A message still being written is
 * dropped (it has no following separator yet and may be cut short only when the file ends
 * without a blank line; sipp writes each entry with one fprintf and flushes).
 */
export function parseSippTrace(log: string): SippTraceEntry[] {
  const entries: SippTraceEntry[] = [];
  const blocks = log.split(/^-{10,} (\d{4}-\d\d-\d\d)[ \t](\d\d:\d\d:\d\d\.\d+)[^\n]*\n/m);
  // split with two groups: [before, date, time, block, date, time, block, ...]
  for (let i = 1; i + 2 < blocks.length; i += 3) {
    const date = blocks[i]!;
    const clock = blocks[i + 1]!;
    const block = blocks[i + 2]!;
    const head = /^\S+ message (received|sent)[^\n]*\n\n?/.exec(block);
    if (head === null) continue;
    const direction = head[1] === 'sent' ? 'sent' : 'received';
    const text = block.slice(head[0].length).replace(/\r/g, '').replace(/\n+$/, '\n');
    const [headPart = '', ...bodyParts] = text.split('\n\n');
    const lines = headPart.split('\n');
    const first = lines[0] ?? '';
    const headerLines = lines.slice(1);
    const lookup = (name: string): string[] => {
      const wanted = name.toLowerCase();
      const out: string[] = [];
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        let key = line.slice(0, colon).trim().toLowerCase();
        key = COMPACT[key] ?? key;
        if (key === wanted) out.push(line.slice(colon + 1).trim());
      }
      return out;
    };
    const response = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(first);
    const request = response === null ? /^([A-Z]+) (\S+) SIP\/2\.0$/.exec(first) : null;
    const [ms = '0'] = [clock.split('.')[1] ?? '0'];
    const time = new Date(`${date}T${clock.split('.')[0]}`).getTime() + Number(`0.${ms}`) * 1000;
    entries.push({
      time,
      direction,
      text,
      method: request?.[1],
      uri: request?.[2],
      status: response ? Number(response[1]) : undefined,
      reason: response ? response[2] : undefined,
      cseqMethod: lookup('cseq')[0]?.split(/\s+/)[1] ?? '',
      body: bodyParts.join('\n\n').replace(/\n$/, ''),
      header: (name) => lookup(name)[0] ?? '',
      headers: lookup,
    });
  }
  return entries;
}

/** The user part of a SIP URI in a header value (`"Ada" <sip:1001@host>;tag=x` → `1001`), or ''. */
export function uriUser(value: string): string {
  return /sips?:([^@;>]+)@/.exec(value)?.[1] ?? '';
}

/**
 * The engine's configuration schema and the parsing of drachtio-server's command-line flags
 * (`--contact`, `--address`, `--port`, `--secret`, `--loglevel`), so a script that starts
 * drachtio-server can start this engine instead.
 */
import { SipEngineError } from './errors';
import { DEFAULT_TCP_LIMITS, type TcpLimits } from './tcp-admission';
import type { TimerValues } from './timers';
import type { TransportName } from './transport';

/** One SIP listening point, from a `--contact` URI. */
export interface ContactSpec {
  /** Address to bind (`0.0.0.0` for all). */
  address: string;
  /** Port to bind; 0 picks an ephemeral port (UDP and TCP then share it). */
  port: number;
  transports: TransportName[];
  /** Address put in Via/Contact/Record-Route; defaults to `address` (or 127.0.0.1 for 0.0.0.0). */
  external?: string;
}

/** Validated engine configuration. */
export interface SipEngineConfig {
  /** SIP listening points; default `sip:127.0.0.1:5060;transport=udp,tcp`. */
  contacts: ContactSpec[];
  /** Control socket address; default 127.0.0.1 (drachtio-server's default is 0.0.0.0). */
  controlAddress: string;
  /** Control socket port; default 9022, 0 for ephemeral. */
  controlPort: number;
  /** Shared secret applications authenticate with; default `cymru`. */
  secret: string;
  /** RFC 3261 timers; default T1=500, T2=4000, T4=5000 ms. */
  timers: TimerValues;
  /** Largest control frame accepted (bytes); default 1 MiB. */
  maxFrameBytes: number;
  /** A control frame left incomplete this long is truncated: the connection closes; default 2000 ms. */
  frameTimeoutMs: number;
  /** Proxy Timer C (ms a ringing branch may go without a provisional); default 180000 (RFC 3261 §16.6). */
  proxyTimerCMs: number;
  /**
   * New requests an application may hold unanswered (no response from it yet); past this the
   * engine answers new out-of-dialog requests for it `503` with `Retry-After` instead of queueing
   * them, so that an overload ends when the load does. Default 5000 (0.4 s of work at 13,000
   * REGISTER/s).
   */
  maxPendingRequests: number;
  /** Version string given to applications; default `v0.9.6` (drachtio-srf parses `vX.Y.Z`). */
  serverVersion: string;
  /** SIP-over-TCP connection caps and idle timeouts; defaults in {@link DEFAULT_TCP_LIMITS}. */
  tcp: TcpLimits;
  /**
   * Requests whose User-Agent contains one of these (lower case, compared case-insensitively) are
   * dropped unanswered before any transaction exists: scanners (`friendly-scanner`, `sipcli`,
   * `sipvicious`), as drachtio-server's `<spammers action="discard">`. Default none.
   */
  dropUserAgents: string[];
}

/** Log levels accepted by `--loglevel` (drachtio's names mapped to pino's). */
export const LOG_LEVELS: Readonly<Record<string, string>> = {
  error: 'error', warning: 'warn', warn: 'warn', notice: 'info', info: 'info', debug: 'debug', trace: 'trace', silent: 'silent',
};

/** The defaults. */
export function defaultConfig(): SipEngineConfig {
  return {
    contacts: [{ address: '127.0.0.1', port: 5060, transports: ['udp', 'tcp'] }],
    controlAddress: '127.0.0.1',
    controlPort: 9022,
    secret: 'cymru',
    timers: { T1: 500, T2: 4000, T4: 5000 },
    maxFrameBytes: 1024 * 1024,
    frameTimeoutMs: 2000,
    proxyTimerCMs: 180_000,
    maxPendingRequests: 5000,
    serverVersion: 'v0.9.6',
    tcp: { ...DEFAULT_TCP_LIMITS },
    dropUserAgents: [],
  };
}

/**
 * Parses a drachtio `--contact` value such as `sip:127.0.0.1:5060;transport=udp,tcp`.
 *
 * @throws SipEngineError `CONFIG` for anything else.
 */
export function parseContact(value: string): ContactSpec {
  const m = /^sips?:(?:[^@]*@)?(\*|\[[^\]]+\]|[^:;]+)(?::(\d+))?((?:;[^;]*)*)$/i.exec(value.trim());
  if (!m) throw new SipEngineError('CONFIG', `bad --contact ${value}`);
  let transports: TransportName[] = ['udp', 'tcp'];
  let external: string | undefined;
  for (const p of (m[3] ?? '').split(';').filter(Boolean)) {
    const [k, v = ''] = p.split('=');
    if (k?.toLowerCase() === 'transport') {
      const list = v.toLowerCase().split(',').filter(Boolean);
      for (const t of list) if (t !== 'udp' && t !== 'tcp') throw new SipEngineError('CONFIG', `unsupported transport ${t} in --contact`);
      transports = list as TransportName[];
    }
  }
  const address = m[1] === '*' ? '0.0.0.0' : m[1]!.replace(/^\[|\]$/g, '');
  const port = m[2] === undefined ? 5060 : Number(m[2]);
  if (port > 65535) throw new SipEngineError('CONFIG', `bad port in --contact ${value}`);
  return external === undefined ? { address, port, transports } : { address, port, transports, external };
}

/** A positive number flag (seconds may have decimals), times `scale`, as an integer. */
function positiveNumber(flag: string, raw: string, scale: number): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || !Number.isInteger(n * scale)) throw new SipEngineError('CONFIG', `${flag} must be a positive number${scale === 1 ? ' (integer)' : ' of seconds'}`);
  return n * scale;
}

/** Result of parsing the command line. */
export interface CommandLine {
  config: SipEngineConfig;
  /** pino level name. */
  logLevel: string;
}

/**
 * Parses drachtio-server's flags. Unknown flags are rejected (so typos surface); `--external-ip`
 * sets the advertised address of the contacts given before it. Like drachtio-server, the secret
 * may come from the environment instead (`DRACHTIO_SECRET` in `env`), which keeps it out of `ps`;
 * `--secret` wins over it.
 *
 * @throws SipEngineError `CONFIG` naming the bad flag.
 */
export function parseCommandLine(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): CommandLine {
  const config = defaultConfig();
  const fromEnv = env['DRACHTIO_SECRET'];
  if (fromEnv !== undefined && fromEnv !== '') config.secret = fromEnv;
  const contacts: ContactSpec[] = [];
  let logLevel = 'info';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new SipEngineError('CONFIG', `${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--contact':
        contacts.push(parseContact(value()));
        break;
      case '--external-ip': {
        const ext = value();
        for (const c of contacts) c.external = ext;
        break;
      }
      case '--address':
        config.controlAddress = value();
        break;
      case '--port': {
        const p = Number(value());
        if (!Number.isInteger(p) || p < 0 || p > 65535) throw new SipEngineError('CONFIG', '--port must be 0..65535');
        config.controlPort = p;
        break;
      }
      case '--secret':
        config.secret = value();
        break;
      case '--loglevel': {
        const l = LOG_LEVELS[value().toLowerCase()];
        if (l === undefined) throw new SipEngineError('CONFIG', `bad --loglevel`);
        logLevel = l;
        break;
      }
      case '--tcp-max-connections':
        config.tcp.maxConnections = positiveNumber(flag, value(), 1);
        break;
      case '--tcp-max-connections-per-source':
        config.tcp.maxPerSource = positiveNumber(flag, value(), 1);
        break;
      case '--tcp-idle-timeout':
        config.tcp.idleMs = positiveNumber(flag, value(), 1000);
        break;
      case '--tcp-pressure-idle-timeout':
        config.tcp.pressureIdleMs = positiveNumber(flag, value(), 1000);
        break;
      case '--sip-t1':
        // drachtio-server sets it in its configuration file (<sip><timers><t1>); T2 and T4 stay
        config.timers = { ...config.timers, T1: positiveNumber(flag, value(), 1) };
        break;
      case '--drop-user-agent': {
        const v = value().trim().toLowerCase();
        if (v === '') throw new SipEngineError('CONFIG', '--drop-user-agent needs a non-empty substring');
        config.dropUserAgents.push(v);
        break;
      }
      case '--stdout':
      case '--nofork':
        break;
      default:
        throw new SipEngineError('CONFIG', `unknown flag ${arg}`);
    }
  }
  if (contacts.length > 0) config.contacts = contacts;
  return { config, logLevel };
}

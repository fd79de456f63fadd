/**
 * Admission and idle policy for SIP-over-TCP connections, shared by every TCP listening point of
 * an engine, so that idle connections cannot use up the process's file descriptors and cut SIP
 * over TCP for every phone: a cap per source address, a cap overall, and, near the overall cap,
 * a short idle timeout for connections that have not carried a SIP message yet. Connections that
 * carried SIP (phones that registered) are never evicted to make room; the oldest silent ones are.
 *
 * @see RFC 3261 §18.3 (connections), RFC 5626 §4.4.1 (keep-alives keep a phone's connection busy)
 */
import type net from 'node:net';
import type { Logger } from 'pino';

/** TCP limits; defaults in {@link DEFAULT_TCP_LIMITS}. */
export interface TcpLimits {
  /** Most connections open at once, inbound and outbound, all listening points. */
  maxConnections: number;
  /** Most inbound connections from one source address. */
  maxPerSource: number;
  /** A connection without traffic this long (ms) is closed. */
  idleMs: number;
  /**
   * Near the overall cap (80 %), a connection that has not carried a complete SIP message is
   * closed after this long (ms) without traffic instead.
   */
  pressureIdleMs: number;
}

/**
 * Defaults: 10,000 connections (half the 20,000 descriptors the engine's service gets), 256 per
 * source (a branch's NAT or SBC), 5 minutes idle, 10 s idle for silent connections near the cap.
 */
export const DEFAULT_TCP_LIMITS: Readonly<TcpLimits> = { maxConnections: 10_000, maxPerSource: 256, idleMs: 300_000, pressureIdleMs: 10_000 };

/** Share of {@link TcpLimits.maxConnections} above which silent connections get the short timeout. */
const PRESSURE_RATIO = 0.8;
/** Share below which that ends (apart from the mark above, so hovering near it does not flap). */
const RELIEF_RATIO = 0.7;

interface Tracked {
  source: string;
  inbound: boolean;
  /** Has carried a complete SIP message (or was opened by the engine). */
  proven: boolean;
}

/** Counters, for diagnostics and tests. */
export interface TcpAdmissionStats {
  open: number;
  refused: number;
  evicted: number;
}

/** The admission state of one engine. */
export class TcpAdmission {
  private readonly limits: TcpLimits;
  private readonly log: Logger;
  private readonly tracked = new Map<net.Socket, Tracked>();
  /** Inbound connections that have carried no SIP message yet, oldest first (Map keeps insertion order). */
  private readonly silent = new Map<net.Socket, true>();
  private readonly perSource = new Map<string, number>();
  private underPressure = false;
  private refused = 0;
  private evicted = 0;
  private lastWarning = 0;

  constructor(limits: TcpLimits, log: Logger) {
    this.limits = limits;
    this.log = log;
  }

  /** Counters. */
  get stats(): TcpAdmissionStats {
    return { open: this.tracked.size, refused: this.refused, evicted: this.evicted };
  }

  /**
   * An accepted connection from `source`: admitted (and tracked) or refused (the caller closes
   * it). At the overall cap the oldest silent connection is closed to make room; when there is
   * none the new one is refused.
   */
  admitInbound(sock: net.Socket, source: string): boolean {
    const fromSource = this.perSource.get(source) ?? 0;
    if (fromSource >= this.limits.maxPerSource) return this.refuse(source, 'per-source cap');
    if (this.tracked.size >= this.limits.maxConnections) {
      const [oldest] = this.silent.keys();
      if (oldest === undefined) return this.refuse(source, 'connection cap');
      this.evicted++;
      this.forget(oldest);
      oldest.destroy();
    }
    this.perSource.set(source, fromSource + 1);
    this.tracked.set(sock, { source, inbound: true, proven: false });
    this.silent.set(sock, true);
    this.arm(sock);
    this.checkPressure();
    return true;
  }

  /** A connection the engine opened (to send a request): always admitted, counted. */
  trackOutbound(sock: net.Socket, destination: string): void {
    this.tracked.set(sock, { source: destination, inbound: false, proven: true });
    this.arm(sock);
    this.checkPressure();
  }

  /** The connection carried a complete SIP message: it gets the normal idle timeout from now on. */
  carried(sock: net.Socket): void {
    const t = this.tracked.get(sock);
    if (!t || t.proven) return;
    t.proven = true;
    this.silent.delete(sock);
    this.arm(sock);
  }

  /** The connection closed. Idempotent. */
  forget(sock: net.Socket): void {
    const t = this.tracked.get(sock);
    if (!t) return;
    this.tracked.delete(sock);
    this.silent.delete(sock);
    if (t.inbound) {
      const n = (this.perSource.get(t.source) ?? 1) - 1;
      if (n <= 0) this.perSource.delete(t.source);
      else this.perSource.set(t.source, n);
    }
    this.checkPressure();
  }

  private arm(sock: net.Socket): void {
    const t = this.tracked.get(sock);
    const ms = t && !t.proven && this.underPressure ? Math.min(this.limits.pressureIdleMs, this.limits.idleMs) : this.limits.idleMs;
    sock.setTimeout(ms);
  }

  private checkPressure(): void {
    const open = this.tracked.size;
    const pressure = this.underPressure ? open >= Math.floor(this.limits.maxConnections * RELIEF_RATIO) : open >= Math.ceil(this.limits.maxConnections * PRESSURE_RATIO);
    if (pressure === this.underPressure) return;
    this.underPressure = pressure;
    if (pressure) {
      this.log.warn({ open: this.tracked.size, max: this.limits.maxConnections }, 'tcp connections near the cap: silent connections get a short idle timeout');
      for (const sock of this.silent.keys()) this.arm(sock);
    } else {
      this.log.info({ open: this.tracked.size }, 'tcp connections back below the pressure mark');
    }
  }

  private refuse(source: string, why: string): false {
    this.refused++;
    const now = Date.now();
    // an attacker must not flood the log either: one warning per 10 s, with the count
    if (now - this.lastWarning >= 10_000) {
      this.lastWarning = now;
      this.log.warn({ source, why, refused: this.refused, open: this.tracked.size }, 'tcp connection refused');
    } else this.log.debug({ source, why }, 'tcp connection refused');
    return false;
  }
}

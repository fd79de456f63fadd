/**
 * The control socket applications (drachtio-srf) connect to: framing, `authenticate`, `route`
 * / `remove_route`, `ping`, and hand-off of `sip` / `proxy` commands to the engine. Routes are
 * per verb; several applications routing the same verb are served round-robin, as
 * drachtio-server does.
 *
 * @see drachtio-srf lib/drachtio-agent.js, lib/wire-protocol.js; drachtio-server src/client.cpp,
 *   src/client-controller.cpp
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import type { Logger } from 'pino';
import { SipEngineError } from './errors';
import { encodeFrame, FrameDecoder } from './wire-framing';

/** A parsed application message. */
export interface AppCommand {
  msgId: string;
  type: string;
  /** Tokens after the type (from the first line). */
  tokens: string[];
  /** The SIP message that followed the first line, or ''. */
  sip: string;
}

/** What the engine does with commands the control server does not handle itself. */
export interface AppCommandHandler {
  /** `sip` and `proxy` commands. */
  command(conn: AppConnection, cmd: AppCommand): void;
  /** The connection closed. */
  closed(conn: AppConnection): void;
}

/** One connected application. */
export class AppConnection {
  /** Short id for logs. */
  readonly id: string;
  authenticated = false;
  /** Verbs this connection routed (lower case). */
  readonly verbs = new Set<string>();
  private readonly socket: net.Socket;

  constructor(id: string, socket: net.Socket) {
    this.id = id;
    this.socket = socket;
  }

  /** Whether the socket is still open. */
  get open(): boolean {
    return !this.socket.destroyed;
  }

  /** Sends `<msgId>|<payload>` framed; returns the msgId. */
  send(payload: string): string {
    const msgId = randomUUID();
    if (!this.socket.destroyed) this.socket.write(encodeFrame(`${msgId}|${payload}`));
    return msgId;
  }

  /** Sends `response|<msgId>|<rest>`. */
  reply(msgId: string, rest: string): void {
    this.send(`response|${msgId}|${rest}`);
  }

  /** Closes the connection. */
  close(): void {
    this.socket.destroy();
  }
}

/** Options of the control server. */
export interface ControlServerOptions {
  address: string;
  port: number;
  secret: string;
  maxFrameBytes: number;
  /** A frame left incomplete this long (ms) counts as truncated and closes the connection. */
  frameTimeoutMs: number;
  /** `OK|...` reply body to authenticate: `<hostports>|<version>|<local hostports>`. */
  authReply: () => string;
  handler: AppCommandHandler;
  log: Logger;
}

/** The listening control socket and the route table. */
export class ControlServer {
  private readonly opts: ControlServerOptions;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly connections = new Set<AppConnection>();
  private readonly routes = new Map<string, AppConnection[]>();
  private readonly next = new Map<string, number>();
  private seq = 0;
  /** Bound port. */
  port = 0;

  private constructor(opts: ControlServerOptions) {
    this.opts = opts;
    this.server = net.createServer((s) => this.accept(s));
  }

  /**
   * Starts listening.
   *
   * @throws SipEngineError `TRANSPORT` when the address cannot be bound.
   */
  static async listen(opts: ControlServerOptions): Promise<ControlServer> {
    const cs = new ControlServer(opts);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(new SipEngineError('TRANSPORT', `cannot listen on control port ${opts.address}:${opts.port}`, { cause: err }));
      cs.server.once('error', onError);
      cs.server.listen(opts.port, opts.address, () => {
        cs.server.off('error', onError);
        resolve();
      });
    });
    cs.port = (cs.server.address() as net.AddressInfo).port;
    cs.server.on('error', (err) => opts.log.warn({ err }, 'control server error'));
    return cs;
  }

  /**
   * Picks the application for an incoming request of `method`: round-robin over the
   * authenticated connections that routed the verb.
   */
  select(method: string): AppConnection | undefined {
    const verb = method.toLowerCase();
    const list = this.routes.get(verb)?.filter((c) => c.open);
    if (!list || list.length === 0) return undefined;
    const i = (this.next.get(verb) ?? 0) % list.length;
    this.next.set(verb, i + 1);
    return list[i];
  }

  /** Connections that routed a verb (e.g. `cdr:start`). */
  routedTo(verb: string): AppConnection[] {
    return this.routes.get(verb) ?? [];
  }

  /** Whether at least one authenticated application is connected. */
  get hasApplications(): boolean {
    for (const c of this.connections) if (c.authenticated && c.open) return true;
    return false;
  }

  /** The SIP methods (upper case) some connected application routed. */
  routedMethods(): string[] {
    const out: string[] = [];
    for (const [verb, list] of this.routes) if (!verb.includes(':') && list.some((c) => c.open)) out.push(verb.toUpperCase());
    return out;
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const conn = new AppConnection(`app-${++this.seq}`, socket);
    this.connections.add(conn);
    const log = this.opts.log.child({ app: conn.id });
    log.debug({ remote: `${socket.remoteAddress}:${socket.remotePort}` }, 'application connected');
    const decoder = new FrameDecoder(this.opts.maxFrameBytes);
    let partial: NodeJS.Timeout | undefined;
    socket.on('data', (chunk: Buffer) => {
      let frames: string[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        log.warn({ err }, 'closing application connection: bad frame');
        socket.destroy();
        return;
      }
      if (partial) clearTimeout(partial);
      partial = undefined;
      if (decoder.pendingBytes > 0) {
        partial = setTimeout(() => {
          log.warn({ bytes: decoder.pendingBytes }, 'closing application connection: truncated frame');
          socket.destroy();
        }, this.opts.frameTimeoutMs);
        partial.unref();
      }
      for (const f of frames) {
        try {
          this.onFrame(conn, f, log);
        } catch (err) {
          log.warn({ err }, 'closing application connection: bad message');
          socket.destroy();
          return;
        }
      }
    });
    socket.on('error', (err) => log.debug({ err }, 'application socket error'));
    socket.on('close', () => {
      if (partial) clearTimeout(partial);
      this.sockets.delete(socket);
      this.connections.delete(conn);
      if (decoder.pendingBytes > 0) log.info({ bytes: decoder.pendingBytes }, 'application connection closed mid-frame');
      for (const verb of conn.verbs) this.unroute(conn, verb);
      this.opts.handler.closed(conn);
      log.debug('application disconnected');
    });
  }

  private onFrame(conn: AppConnection, frame: string, log: Logger): void {
    const crlf = frame.indexOf('\r\n');
    const first = crlf < 0 ? frame : frame.slice(0, crlf);
    const sip = crlf < 0 ? '' : frame.slice(crlf + 2);
    const parts = first.split('|');
    if (parts.length < 2) throw new SipEngineError('WIRE_PROTOCOL', 'message without type');
    const cmd: AppCommand = { msgId: parts[0]!, type: parts[1]!, tokens: parts.slice(2), sip };
    if (!conn.authenticated) {
      if (cmd.type !== 'authenticate') throw new SipEngineError('WIRE_PROTOCOL', 'first message must be authenticate');
      if (cmd.tokens[0] !== this.opts.secret) {
        conn.reply(cmd.msgId, 'NO|incorrect secret');
        log.info('application failed to authenticate');
        conn.close();
        return;
      }
      conn.authenticated = true;
      conn.reply(cmd.msgId, `OK|${this.opts.authReply()}`);
      return;
    }
    switch (cmd.type) {
      case 'route': {
        const verb = (cmd.tokens[0] ?? '').toLowerCase();
        if (verb.length === 0) return conn.reply(cmd.msgId, 'NO|missing verb');
        conn.verbs.add(verb);
        const list = this.routes.get(verb) ?? [];
        if (!list.includes(conn)) list.push(conn);
        this.routes.set(verb, list);
        return conn.reply(cmd.msgId, 'OK');
      }
      case 'remove_route': {
        const verb = (cmd.tokens[0] ?? '').toLowerCase();
        this.unroute(conn, verb);
        conn.verbs.delete(verb);
        return conn.reply(cmd.msgId, 'OK');
      }
      case 'ping':
        return conn.reply(cmd.msgId, 'OK|pong');
      case 'sip':
      case 'proxy':
        this.opts.handler.command(conn, cmd);
        return;
      case 'response':
        return; // replies to requests the engine made (none need an answer)
      default:
        return conn.reply(cmd.msgId, `NOK|unknown message type ${cmd.type}`);
    }
  }

  private unroute(conn: AppConnection, verb: string): void {
    const list = this.routes.get(verb);
    if (!list) return;
    const rest = list.filter((c) => c !== conn);
    if (rest.length === 0) this.routes.delete(verb);
    else this.routes.set(verb, rest);
  }

  /** Stops accepting, closes every application connection. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

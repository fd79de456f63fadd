/**
 * SIP over TCP: a listening socket plus a pool of connections (accepted and opened), keyed by
 * the remote address and port, reused for responses and for new requests to the same peer.
 *
 * @see RFC 3261 §18.1.1, §18.2.2, §18.3 (framing)
 */
import net from 'node:net';
import type { Logger } from 'pino';
import { SipEngineError } from './errors';
import { SipStreamParser } from './sip-parser';
import type { TcpAdmission } from './tcp-admission';
import { peerKey, type InboundHandler } from './transport';

/**
 * A listening TCP socket for SIP and its connection pool. Which connections are accepted and how
 * long an idle one lives is the {@link TcpAdmission}'s decision.
 */
export class TcpTransport {
  private readonly server: net.Server;
  private readonly log: Logger;
  private readonly onMessage: InboundHandler;
  private readonly admission: TcpAdmission;
  private readonly connections = new Map<string, net.Socket>();
  private readonly pending = new Map<string, Promise<net.Socket>>();
  /** Bound address. */
  address = '';
  /** Bound port. */
  port = 0;

  private constructor(server: net.Server, onMessage: InboundHandler, admission: TcpAdmission, log: Logger) {
    this.server = server;
    this.onMessage = onMessage;
    this.admission = admission;
    this.log = log;
  }

  /**
   * Listens for SIP over TCP.
   *
   * @throws SipEngineError `TRANSPORT` when the address cannot be bound.
   */
  static async listen(address: string, port: number, onMessage: InboundHandler, admission: TcpAdmission, log: Logger): Promise<TcpTransport> {
    const server = net.createServer();
    const t = new TcpTransport(server, onMessage, admission, log);
    server.on('connection', (sock) => {
      if (t.admission.admitInbound(sock, normalise(sock.remoteAddress ?? ''))) t.adopt(sock);
      else sock.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(new SipEngineError('TRANSPORT', `cannot listen tcp ${address}:${port}`, { cause: err }));
      server.once('error', onError);
      server.listen({ host: address, port, backlog: 1024 }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    const a = server.address() as net.AddressInfo;
    t.address = address;
    t.port = a.port;
    server.on('error', (err) => log.warn({ err }, 'tcp server error'));
    return t;
  }

  private adopt(sock: net.Socket): void {
    const remote = { address: normalise(sock.remoteAddress ?? ''), port: sock.remotePort ?? 0 };
    const key = peerKey(remote);
    this.connections.set(key, sock);
    sock.setNoDelay(true);
    sock.on('timeout', () => sock.destroy());
    const parser = new SipStreamParser();
    const local = { address: this.address, port: this.port };
    let unframeable = false;
    sock.on('data', (chunk: Buffer) => {
      if (unframeable) return;
      let messages: Buffer[];
      try {
        messages = parser.push(chunk);
      } catch (err) {
        this.log.info({ err, peer: key }, 'closing tcp connection: unframeable SIP stream');
        unframeable = true;
        // the request that could not be framed is answered (400) before the connection closes
        const head = parser.rejectedHead;
        if (head) this.onMessage({ data: head, peer: { transport: 'tcp', ...remote, localPort: this.port }, local });
        sock.end();
        setTimeout(() => sock.destroy(), 1000).unref();
        return;
      }
      if (messages.length > 0) this.admission.carried(sock);
      for (const data of messages) this.onMessage({ data, peer: { transport: 'tcp', ...remote, localPort: this.port }, local });
    });
    sock.on('error', (err) => this.log.debug({ err, peer: key }, 'tcp connection error'));
    sock.on('close', () => {
      this.admission.forget(sock);
      if (this.connections.get(key) === sock) this.connections.delete(key);
    });
  }

  /**
   * Sends a message, opening a connection to the peer when none is open; `onError` is called
   * when the connection cannot be opened. @see RFC 3261 §18.1.1, §18.4
   */
  send(data: Buffer, address: string, port: number, onError?: (err: unknown) => void): void {
    const key = peerKey({ address, port });
    const sock = this.connections.get(key);
    if (sock && !sock.destroyed) {
      sock.write(data);
      return;
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      this.log.debug({ peer: key }, 'tcp send refused: bad port');
      onError?.(new SipEngineError('TRANSPORT', `bad port ${port}`));
      return;
    }
    let p = this.pending.get(key);
    if (!p) {
      p = new Promise<net.Socket>((resolve, reject) => {
        // net.connect throws synchronously on a bad port; the executor turns that into a rejection
        const s = net.connect({ host: address, port });
        s.once('connect', () => {
          this.pending.delete(key);
          this.admission.trackOutbound(s, address);
          this.adopt(s);
          resolve(s);
        });
        s.once('error', (err) => {
          this.pending.delete(key);
          reject(err);
        });
      });
      this.pending.set(key, p);
    }
    p.then(
      (s) => s.write(data),
      (err: unknown) => {
        this.log.debug({ err, peer: key }, 'tcp connect failed');
        onError?.(err);
      },
    ).catch((err: unknown) => this.log.warn({ err, peer: key }, 'error after a tcp send'));
  }

  /** Closes the listener and every connection. */
  async close(): Promise<void> {
    for (const s of this.connections.values()) s.destroy();
    this.connections.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function normalise(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

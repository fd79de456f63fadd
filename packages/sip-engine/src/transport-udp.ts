/**
 * SIP over UDP: one datagram, one message.
 *
 * @see RFC 3261 §18.1.1, §18.2.1
 */
import dgram from 'node:dgram';
import type { Logger } from 'pino';
import { SipEngineError } from './errors';
import type { InboundHandler } from './transport';

/** A bound UDP socket for SIP. */
export class UdpTransport {
  private readonly socket: dgram.Socket;
  private readonly log: Logger;
  /** Bound address. */
  address = '';
  /** Bound port (the real one when 0 was asked for). */
  port = 0;

  private constructor(socket: dgram.Socket, log: Logger) {
    this.socket = socket;
    this.log = log;
  }

  /**
   * Binds a UDP socket.
   *
   * @throws SipEngineError `TRANSPORT` when the address cannot be bound.
   */
  static async bind(address: string, port: number, onMessage: InboundHandler, log: Logger): Promise<UdpTransport> {
    const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024, sendBufferSize: 4 * 1024 * 1024 });
    const t = new UdpTransport(socket, log);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(new SipEngineError('TRANSPORT', `cannot bind udp ${address}:${port}`, { cause: err }));
      socket.once('error', onError);
      socket.bind(port, address, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    const a = socket.address();
    t.address = address;
    t.port = a.port;
    socket.on('error', (err) => log.warn({ err }, 'udp socket error'));
    socket.on('message', (data, rinfo) => {
      onMessage({ data, peer: { transport: 'udp', address: rinfo.address, port: rinfo.port, localPort: t.port }, local: { address: t.address, port: t.port } });
    });
    return t;
  }

  /** Sends one datagram; errors are logged, never thrown (UDP is best effort). */
  send(data: Buffer, address: string, port: number): void {
    try {
      // dgram throws synchronously for a bad port or address (ERR_SOCKET_BAD_PORT...): this runs
      // inside promise callbacks, where a throw would become an unhandled rejection
      this.socket.send(data, port, address, (err) => {
        if (err) this.log.debug({ err, address, port }, 'udp send failed');
      });
    } catch (err) {
      this.log.debug({ err, address, port }, 'udp send refused');
    }
  }

  /** Closes the socket. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}

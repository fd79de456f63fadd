/**
 * What the transports share: the remote peer a message came from or goes to, and the callback
 * through which a transport hands received bytes to the engine.
 *
 * @see RFC 3261 §18 (transport layer)
 */

/** Transport protocol names as drachtio reports them (lower case). */
export type TransportName = 'udp' | 'tcp';

/** A remote (or local) transport address. */
export interface Peer {
  transport: TransportName;
  address: string;
  port: number;
  /**
   * Local port the peer's messages arrived on; replies leave from the same socket (so a phone
   * sees answers from the address it sent to when several contacts are bound). Undefined: any.
   */
  localPort?: number;
}

/** Bytes received by a transport. */
export interface Inbound {
  /** One complete SIP message (datagram, or framed from a stream). */
  data: Buffer;
  /** Where it came from. */
  peer: Peer;
  /** The local address and port it arrived on. */
  local: { address: string; port: number };
}

/** Callback receiving complete messages from a transport. */
export type InboundHandler = (inbound: Inbound) => void;

/** Key for a peer in maps. */
export function peerKey(p: { address: string; port: number }): string {
  return `${p.address}:${p.port}`;
}

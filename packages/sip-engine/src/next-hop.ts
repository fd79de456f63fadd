/**
 * Where a request goes next: the first Route (loose routing) or the Request-URI, resolved with
 * the transport parameter and A records (no NAPTR/SRV).
 *
 * @see RFC 3261 §8.1.2, §16.6 steps 6-7; RFC 3263 (only the simple parts)
 */
import dns from 'node:dns';
import net from 'node:net';
import { SipEngineError } from './errors';
import { parseNameAddr, parseSipUri } from './sip-message';
import type { Peer, TransportName } from './transport';

/**
 * Resolves a SIP URI (or a name-addr holding one) to a transport address.
 *
 * @param fallbackTransport used when the URI has no transport parameter (default udp).
 * @throws SipEngineError `TRANSPORT` when the URI is not a sip URI or the host does not resolve.
 */
export async function resolveUri(uriOrNameAddr: string, fallbackTransport: TransportName = 'udp'): Promise<Peer> {
  const peer = resolveUriSync(uriOrNameAddr, fallbackTransport);
  if (net.isIP(peer.address)) return peer;
  try {
    const r = await dns.promises.lookup(peer.address, { family: 4 });
    return { ...peer, address: r.address };
  } catch (err) {
    throw new SipEngineError('TRANSPORT', `cannot resolve ${peer.address}`, { cause: err, retryable: true });
  }
}

/** Like {@link resolveUri} but without DNS (the host may be a name). */
export function resolveUriSync(uriOrNameAddr: string, fallbackTransport: TransportName = 'udp'): Peer {
  const na = uriOrNameAddr.includes('<') ? parseNameAddr(uriOrNameAddr) : undefined;
  const uri = parseSipUri(na ? na.uri : uriOrNameAddr);
  if (!uri) throw new SipEngineError('TRANSPORT', `not a SIP URI: ${uriOrNameAddr}`);
  const tp = (uri.params.get('transport') ?? '').toLowerCase();
  const transport: TransportName = tp === 'tcp' || tp === 'tls' || uri.scheme === 'sips' ? 'tcp' : tp === 'udp' ? 'udp' : fallbackTransport;
  let host = uri.host;
  if (host.startsWith('[')) host = host.slice(1, -1);
  if (host === 'localhost') host = '127.0.0.1';
  return { transport, address: host, port: uri.port ?? 5060 };
}

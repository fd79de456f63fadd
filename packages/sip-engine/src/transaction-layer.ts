/**
 * The transaction layer: tables of client and server transactions, matching of incoming
 * messages to them, and creation of new ones (Via with a fresh RFC 3261 branch for requests).
 *
 * @see RFC 3261 §17.1.3 (matching responses), §17.2.3 (matching requests), §8.1.1.7 (branch)
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { CompletedTransactions } from './completed-transactions';
import { ClientTransaction, type ClientTransactionHooks } from './transaction-client';
import { ServerTransaction } from './transaction-server';
import { parseCSeq, parseVia, SipMessage, type Via } from './sip-message';
import type { TimerValues } from './timers';
import type { Peer, TransportName } from './transport';

/** What the layer needs from the engine. */
export interface TransactionLayerDeps {
  timers: TimerValues;
  log: Logger;
  /** Sends bytes to a peer on the peer's transport; `onError` when a connection cannot be made. */
  send(peer: Peer, data: Buffer, onError?: (err: unknown) => void): void;
  /** `host:port` the engine puts in Via for a transport. */
  sentBy(transport: TransportName): string;
}

/** Handlers of a client transaction's user. */
export interface ClientHandlers {
  response(txn: ClientTransaction, res: SipMessage, raw: Buffer, retransmission: boolean): void;
  timeout(txn: ClientTransaction): void;
}

// A random per-process prefix plus a counter: unique across restarts and cheap (profiling showed
// per-id randomBytes calls at ~6 % of the engine's CPU under load).
const ID_PREFIX = randomBytes(6).toString('hex');
let counter = 0;

function next(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return counter.toString(36);
}

/** A unique id (`<random prefix>-<counter>`). */
export function newId(): string {
  return `${ID_PREFIX}-${next()}`;
}

/** A fresh RFC 3261 branch (`z9hG4bK` magic cookie). @see RFC 3261 §8.1.1.7 */
export function newBranch(): string {
  return `z9hG4bK${ID_PREFIX}${next()}`;
}

/** A fresh tag, globally unique with high probability. @see RFC 3261 §19.3 */
export function newTag(): string {
  return `${ID_PREFIX.slice(0, 8)}${next()}`;
}

/** Transaction tables and factories. */
export class TransactionLayer {
  private readonly deps: TransactionLayerDeps;
  private readonly servers = new Map<string, ServerTransaction>();
  private readonly serversById = new Map<string, ServerTransaction>();
  private readonly clients = new Map<string, ClientTransaction>();
  private readonly clientsById = new Map<string, ClientTransaction>();
  /** Completed non-INVITE server transactions over UDP, kept for Timer J (completed-transactions.ts). */
  private readonly completed: CompletedTransactions;

  constructor(deps: TransactionLayerDeps) {
    this.deps = deps;
    this.completed = new CompletedTransactions(64 * deps.timers.T1);
  }

  /**
   * Counts of live transactions, of completed ones kept only to answer retransmissions (Timer J)
   * and the bytes those take.
   */
  get counts(): { server: number; client: number; completed: number; completedBytes: number } {
    return { server: this.servers.size, client: this.clients.size, completed: this.completed.size, completedBytes: this.completed.bytes };
  }

  /**
   * Answers a retransmitted request from its transaction: a live one resends its last response;
   * a completed non-INVITE one (Timer J) sends its final response again to `peer`.
   *
   * @returns whether `req` was a retransmission (it must then go no further).
   */
  absorbRetransmission(req: SipMessage, via: Via, peer: Peer): boolean {
    const key = TransactionLayer.serverKey(req, via);
    const live = this.servers.get(key);
    if (live) {
      live.receiveRetransmission();
      return true;
    }
    if (req.method === 'INVITE' || req.method === 'ACK') return false;
    const response = this.completed.lookup(key, req);
    if (response === undefined) return false;
    this.deps.send(peer, response);
    return true;
  }

  /**
   * Matching key of a request for server transactions: branch, sent-by and method (ACK matches
   * INVITE), plus Call-ID and CSeq number, so that a client reusing a branch for an unrelated
   * request (RFC 4475's messages share `z9hG4bKkdjuw` and sent-by) starts a new transaction
   * instead of being answered with another request's response; a CANCEL or ACK carries its
   * INVITE's Call-ID and CSeq number and still matches. Pre-3261 requests (no magic cookie) fall
   * back to Call-ID/CSeq/From-tag.
   * @see RFC 3261 §17.2.3
   */
  static serverKey(req: SipMessage, via: Via, method?: string): string {
    const m = method ?? (req.method === 'ACK' ? 'INVITE' : req.method);
    const cseq = parseCSeq(req.get('cseq'));
    if (via.branch.startsWith('z9hG4bK')) return `${via.branch}|${via.host}:${via.port ?? 5060}|${m}|${req.get('call-id')}|${cseq?.seq}`;
    return `2543|${req.get('call-id')}|${cseq?.seq}|${req.get('from')}|${via.host}|${m}`;
  }

  /** The server transaction a request belongs to, if any. */
  findServer(req: SipMessage, via: Via, method?: string): ServerTransaction | undefined {
    return this.servers.get(TransactionLayer.serverKey(req, via, method));
  }

  /** A server transaction by its id. */
  serverById(id: string): ServerTransaction | undefined {
    return this.serversById.get(id);
  }

  /** Live server transactions whose owner passes `test`. */
  serversOwnedBy(test: (owner: unknown) => boolean): ServerTransaction[] {
    return [...this.serversById.values()].filter((t) => t.state !== 'terminated' && test(t.owner));
  }

  /** A client transaction by its id. */
  clientById(id: string): ClientTransaction | undefined {
    return this.clientsById.get(id);
  }

  /** Creates a server transaction for a new request. */
  createServer(req: SipMessage, via: Via, peer: Peer, ackTimeout?: (txn: ServerTransaction) => void): ServerTransaction {
    const key = TransactionLayer.serverKey(req, via);
    const txn = new ServerTransaction(newId(), key, req, peer, this.deps.timers, {
      send: (data) => this.deps.send(peer, data),
      terminated: (t) => {
        if (this.servers.get(t.key) === t) this.servers.delete(t.key);
        if (this.serversById.get(t.id) === t) this.serversById.delete(t.id);
      },
      ...(ackTimeout ? { ackTimeout } : {}),
    });
    this.servers.set(key, txn);
    this.serversById.set(txn.id, txn);
    return txn;
  }

  /**
   * Sends a response in a server transaction.
   *
   * @returns false when the transaction no longer takes responses.
   */
  respond(txn: ServerTransaction, res: SipMessage): boolean {
    const request = txn.released ? undefined : txn.request;
    const wire = res.toBuffer();
    if (!txn.respond(res.status ?? 500, wire)) return false;
    // A non-INVITE transaction over UDP with its final response sent only answers retransmissions
    // from now on: it is filed compactly for Timer J and the transaction itself ends.
    if (request !== undefined && !txn.isInvite && !txn.reliable && txn.state === 'completed') {
      this.completed.add(txn.key, request, res, wire);
      txn.terminate();
    }
    return true;
  }

  /**
   * Starts a client transaction: prepends a Via with a new branch (unless `keepVia`, used for
   * CANCEL, which reuses the INVITE's) and sends.
   */
  sendRequest(req: SipMessage, dest: Peer, handlers: ClientHandlers, keepVia = false): ClientTransaction {
    let branch: string;
    if (keepVia) {
      branch = parseVia(req.getAll('via')[0] ?? '')?.branch ?? newBranch();
    } else {
      branch = newBranch();
      req.prepend('Via', `SIP/2.0/${dest.transport.toUpperCase()} ${this.deps.sentBy(dest.transport)};rport;branch=${branch}`);
    }
    const raw = req.toBuffer();
    let self: ClientTransaction | undefined;
    const hooks: ClientTransactionHooks = {
      send: (data) => this.deps.send(dest, data, () => self?.transportError()),
      response: handlers.response,
      timeout: handlers.timeout,
      buildAck: (t, res) => buildNon2xxAck(t.request, res).toBuffer(),
      terminated: (t) => {
        if (this.clients.get(t.key) === t) this.clients.delete(t.key);
        if (this.clientsById.get(t.id) === t) this.clientsById.delete(t.id);
      },
    };
    const txn = new ClientTransaction(newId(), branch, req, raw, dest, this.deps.timers, hooks);
    self = txn;
    this.clients.set(txn.key, txn);
    this.clientsById.set(txn.id, txn);
    txn.start();
    return txn;
  }

  /** The client transaction a response belongs to, if any. @see RFC 3261 §17.1.3 */
  matchResponse(res: SipMessage, via: Via): ClientTransaction | undefined {
    const cseq = parseCSeq(res.get('cseq'));
    if (!cseq) return undefined;
    const method = cseq.method === 'ACK' ? 'INVITE' : cseq.method;
    return this.clients.get(`${via.branch}|${method}`);
  }

  /** Terminates every transaction (engine stop). */
  terminateAll(): void {
    for (const t of [...this.servers.values()]) t.terminate();
    for (const t of [...this.clients.values()]) t.terminate();
    this.completed.clear();
  }
}

/**
 * The ACK a client INVITE transaction sends for a non-2xx final: same Request-URI, Call-ID,
 * From, top Via and Route as the INVITE, To from the response, CSeq method ACK.
 * @see RFC 3261 §17.1.1.3
 */
export function buildNon2xxAck(invite: SipMessage, res: SipMessage): SipMessage {
  const ack = SipMessage.request('ACK', invite.uri ?? '');
  const via = invite.getAll('via')[0];
  if (via !== undefined) ack.append('Via', via);
  ack.append('Max-Forwards', '70');
  for (const r of invite.getAll('route')) ack.append('Route', r);
  ack.append('From', invite.get('from') ?? '');
  ack.append('To', res.get('to') ?? invite.get('to') ?? '');
  ack.append('Call-ID', invite.get('call-id') ?? '');
  ack.append('CSeq', `${parseCSeq(invite.get('cseq'))?.seq ?? 1} ACK`);
  return ack;
}

/**
 * Builds a response to a request the way a UAS core does: Via, From, To, Call-ID, CSeq copied,
 * a To-tag added when given and absent. @see RFC 3261 §8.2.6.2
 */
export function buildResponse(req: SipMessage, status: number, reason: string, toTag?: string): SipMessage {
  const res = SipMessage.response(status, reason);
  for (const h of req.headers) if (h.key === 'via') res.headers.push({ ...h });
  res.append('From', req.get('from') ?? '');
  let to = req.get('to') ?? '';
  if (toTag && status > 100 && !/;\s*tag=/i.test(to)) to += `;tag=${toTag}`;
  res.append('To', to);
  res.append('Call-ID', req.get('call-id') ?? '');
  res.append('CSeq', req.get('cseq') ?? '');
  return res;
}

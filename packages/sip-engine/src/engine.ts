/**
 * `SipEngine`: a drop-in for drachtio-server as drachtio-srf sees it. It owns the SIP transports,
 * the transaction layer, dialogs and the proxy core, and the control socket applications connect
 * to; this file routes each message from the network to the right one of them.
 *
 * @see RFC 3261 §16.4 (route information preprocessing), §17 (transactions), §18 (transport)
 */
import os from 'node:os';
import pino, { type Logger } from 'pino';
import { defaultConfig, type SipEngineConfig } from './config';
import { ControlServer, type AppCommand, type AppConnection } from './control-server';
import { DialogStore } from './dialogs';
import { SIP_STATUS_FOR_ERROR, SipEngineError } from './errors';
import { SUPPORTED_URI_SCHEMES, uriScheme } from './message-validation';
import { resolveUri } from './next-hop';
import { answerOutOfDialog } from './unrouted';
import { ProxyContext, type ProxyTarget } from './proxy';
import { parseSipMessage, validateMessage } from './sip-parser';
import { canonicalHeaderName, parseNameAddr, parseSipUri, parseVia, SipMessage, splitHeaderList, tagOf, type Via } from './sip-message';
import { buildResponse, newBranch, newTag, TransactionLayer } from './transaction-layer';
import type { ServerTransaction } from './transaction-server';
import { parseDuration, stopTimer } from './timers';
import { TcpAdmission, type TcpAdmissionStats } from './tcp-admission';
import { TcpTransport } from './transport-tcp';
import { UdpTransport } from './transport-udp';
import type { Inbound, Peer, TransportName } from './transport';
import { stackTime, UserAgent, type TxnOwner } from './user-agent';

/**
 * Lifecycle states: `created` → `starting` → `running` → `stopping` → `stopped`; a failed
 * start ends in `failed` (sockets released).
 */
export type SipEngineState = 'created' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/** Options of {@link SipEngine.create}: any config field (defaults in {@link SipEngineConfig}) plus a logger. */
export interface SipEngineOptions extends Partial<SipEngineConfig> {
  /** pino logger; default a silent one. */
  logger?: Logger;
  /** Aborting stops the engine. */
  signal?: AbortSignal;
}

/** A bound SIP listening point. */
export interface BoundSipAddress {
  transport: TransportName;
  address: string;
  port: number;
}

/** The SIP engine. */
export class SipEngine {
  private readonly config: SipEngineConfig;
  private readonly log: Logger;
  private readonly signal: AbortSignal | undefined;
  private _state: SipEngineState = 'created';
  /** Requests dropped unanswered for a scanner's User-Agent (config.dropUserAgents). */
  droppedScanners = 0;
  private udp: UdpTransport[] = [];
  private tcp: TcpTransport[] = [];
  private control: ControlServer | undefined;
  private readonly dialogs = new DialogStore();
  private readonly tcpAdmission: TcpAdmission;
  /** New requests refused while an application was behind (logged every 1000th). */
  private shedCount = 0;
  private readonly layer: TransactionLayer;
  private readonly ua: UserAgent;
  private stopping: Promise<void> | undefined;
  private advertised = new Map<TransportName, { address: string; port: number }>();
  private localHosts = new Set<string>();
  private localPorts = new Set<number>();

  /** Builds an engine without doing any I/O; call {@link start}. */
  constructor(options: SipEngineOptions = {}) {
    const { logger, signal, ...rest } = options;
    this.config = { ...defaultConfig(), ...rest };
    this.log = logger ?? pino({ level: 'silent' });
    this.signal = signal;
    this.tcpAdmission = new TcpAdmission(this.config.tcp, this.log);
    this.layer = new TransactionLayer({
      timers: this.config.timers,
      log: this.log,
      send: (peer, data, onError) => this.send(peer, data, onError),
      sentBy: (t) => this.sentBy(t),
    });
    this.ua = new UserAgent({
      layer: this.layer,
      dialogs: this.dialogs,
      log: this.log,
      timers: this.config.timers,
      send: (peer, data) => this.send(peer, data),
      resolve: (uri, fallback) => resolveUri(uri, fallback),
      contactFor: (t) => this.contactFor(t),
      localFor: (t) => this.localFor(t),
      sentBy: (t) => this.sentBy(t),
    });
  }

  /** Creates and starts an engine. */
  static async create(options: SipEngineOptions = {}): Promise<SipEngine> {
    const e = new SipEngine(options);
    await e.start();
    return e;
  }

  /** Current lifecycle state. */
  get state(): SipEngineState {
    return this._state;
  }

  /** The SIP addresses bound (real ports when 0 was asked for). */
  get sipAddresses(): BoundSipAddress[] {
    return [
      ...this.udp.map((u) => ({ transport: 'udp' as const, address: u.address, port: u.port })),
      ...this.tcp.map((t) => ({ transport: 'tcp' as const, address: t.address, port: t.port })),
    ];
  }

  /** The control socket's bound port. */
  get controlPort(): number {
    return this.control?.port ?? 0;
  }

  /** drachtio's hostport list, e.g. `udp/127.0.0.1:5060,tcp/127.0.0.1:5060`. */
  get hostports(): string {
    return this.sipAddresses.map((a) => `${a.transport}/${this.advertisedHost(a.address)}:${a.port}`).join(',');
  }

  /**
   * Numbers of live transactions and dialogs, and of completed non-INVITE transactions kept only
   * to answer retransmissions (Timer J) with the bytes they take (for diagnostics).
   */
  get stats(): { serverTransactions: number; clientTransactions: number; dialogs: number; completedTransactions: number; completedBytes: number } {
    const c = this.layer.counts;
    return { serverTransactions: c.server, clientTransactions: c.client, dialogs: this.dialogs.size, completedTransactions: c.completed, completedBytes: c.completedBytes };
  }

  /** SIP-over-TCP connections: open, refused and evicted so far. */
  get tcpStats(): TcpAdmissionStats {
    return this.tcpAdmission.stats;
  }

  /**
   * Binds the SIP transports and the control socket.
   *
   * @throws SipEngineError `TRANSPORT` when an address cannot be bound, `STATE` when not `created`.
   */
  async start(): Promise<void> {
    if (this._state !== 'created') throw new SipEngineError('STATE', `cannot start in state ${this._state}`);
    this._state = 'starting';
    try {
      for (const c of this.config.contacts) await this.bindContact(c.address, c.port, c.transports, c.external);
      this.control = await ControlServer.listen({
        address: this.config.controlAddress,
        port: this.config.controlPort,
        secret: this.config.secret,
        maxFrameBytes: this.config.maxFrameBytes,
        frameTimeoutMs: this.config.frameTimeoutMs,
        authReply: () => `${this.hostports}|${this.config.serverVersion}|${this.hostports}`,
        handler: { command: (conn, cmd) => this.onCommand(conn, cmd), closed: (conn) => this.onAppClosed(conn) },
        log: this.log,
      });
    } catch (err) {
      this._state = 'failed';
      await this.release();
      throw err;
    }
    this._state = 'running';
    this.signal?.addEventListener('abort', () => void this.stop(), { once: true });
    this.log.info({ sip: this.sipAddresses, control: { address: this.config.controlAddress, port: this.controlPort } }, 'sip engine running');
  }

  private async bindContact(address: string, port: number, transports: TransportName[], external?: string): Promise<void> {
    const onMessage = (m: Inbound): void => this.onInbound(m);
    for (let attempt = 0; ; attempt++) {
      let udp: UdpTransport | undefined;
      try {
        let p = port;
        if (transports.includes('udp')) {
          udp = await UdpTransport.bind(address, p, onMessage, this.log);
          p = udp.port;
        }
        const tcp = transports.includes('tcp') ? await TcpTransport.listen(address, p, onMessage, this.tcpAdmission, this.log) : undefined;
        if (udp) this.udp.push(udp);
        if (tcp) this.tcp.push(tcp);
        const bound = udp?.port ?? tcp!.port;
        const host = external ?? this.advertisedHost(address);
        for (const t of transports) if (!this.advertised.has(t)) this.advertised.set(t, { address: host, port: bound });
        this.localHosts.add(host).add(address);
        if (address === '0.0.0.0' || address.startsWith('127.')) this.localHosts.add('127.0.0.1').add('localhost');
        if (address === '0.0.0.0') for (const list of Object.values(os.networkInterfaces())) for (const i of list ?? []) if (i.family === 'IPv4') this.localHosts.add(i.address);
        this.localPorts.add(bound);
        return;
      } catch (err) {
        await udp?.close();
        if (port !== 0 || attempt >= 10) throw err;
      }
    }
  }

  private advertisedHost(address: string): string {
    if (address !== '0.0.0.0') return address;
    for (const list of Object.values(os.networkInterfaces())) for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
    return '127.0.0.1';
  }

  /**
   * Stops gracefully: stops accepting applications and SIP, terminates transactions, closes
   * sockets. Idempotent; resolves within `timeoutMs` (default 5000) even if a socket hangs.
   */
  async stop(timeoutMs = 5000): Promise<void> {
    if (this._state === 'created') {
      this._state = 'stopped';
      return;
    }
    if (!this.stopping) {
      this._state = 'stopping';
      const work = this.release();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      });
      this.stopping = Promise.race([work, timeout]).then(() => {
        if (timer) clearTimeout(timer);
        if (this._state === 'stopping') this._state = 'stopped';
      });
    }
    return this.stopping;
  }

  private async release(): Promise<void> {
    this.layer.terminateAll();
    for (const d of this.dialogs.all()) this.dialogs.delete(d);
    await Promise.allSettled([
      this.control?.close(),
      ...this.udp.map((u) => u.close()),
      ...this.tcp.map((t) => t.close()),
    ]);
  }

  // ---- addressing ---------------------------------------------------------------------------

  private localFor(t: TransportName): { address: string; port: number } {
    return this.advertised.get(t) ?? this.advertised.values().next().value ?? { address: '127.0.0.1', port: 5060 };
  }

  private sentBy(t: TransportName): string {
    const l = this.localFor(t);
    return `${l.address}:${l.port}`;
  }

  private contactFor(t: TransportName): string {
    const l = this.localFor(t);
    return t === 'udp' ? `<sip:${l.address}:${l.port}>` : `<sip:${l.address}:${l.port};transport=${t}>`;
  }

  private recordRoute(t: TransportName): string {
    const l = this.localFor(t);
    return `<sip:${l.address}:${l.port};transport=${t};lr>`;
  }

  private isLocalUri(value: string): boolean {
    const uri = parseSipUri(value.includes('<') ? (parseNameAddr(value)?.uri ?? value) : value);
    if (!uri) return false;
    return this.localHosts.has(uri.host) && this.localPorts.has(uri.port ?? 5060);
  }

  /**
   * Sends on the transport the peer's messages arrived on (several `--contact`s), else the first.
   * Never throws: it runs inside promise callbacks, where a throw would be an unhandled rejection.
   */
  private send(peer: Peer, data: Buffer, onError?: (err: unknown) => void): void {
    try {
      if (peer.transport === 'tcp') {
        const t = (peer.localPort !== undefined ? this.tcp.find((x) => x.port === peer.localPort) : undefined) ?? this.tcp[0];
        t?.send(data, peer.address, peer.port, onError);
      } else {
        const u = (peer.localPort !== undefined ? this.udp.find((x) => x.port === peer.localPort) : undefined) ?? this.udp[0];
        u?.send(data, peer.address, peer.port);
      }
    } catch (err) {
      this.log.debug({ err, peer }, 'send failed');
      onError?.(err);
    }
  }

  // ---- network → engine --------------------------------------------------------------------

  private onInbound(inbound: Inbound): void {
    if (this._state !== 'running') return;
    let msg: SipMessage;
    try {
      msg = parseSipMessage(inbound.data, inbound.peer.transport === 'udp');
    } catch (err) {
      this.log.debug({ err, peer: inbound.peer }, 'malformed SIP message');
      this.answerMalformed(inbound);
      return;
    }
    const bad = validateMessage(msg);
    if (bad !== undefined) {
      this.log.debug({ reason: bad, peer: inbound.peer }, 'invalid SIP message');
      if (msg.isRequest && msg.method !== 'ACK') this.answerStateless(msg, inbound.peer, SIP_STATUS_FOR_ERROR.SIP_PARSE, `Bad Request (${bad})`);
      return;
    }
    if (msg.isRequest && this.isScanner(msg)) {
      this.droppedScanners++;
      this.log.debug({ peer: inbound.peer }, 'request from a scanner dropped');
      return;
    }
    try {
      if (msg.isRequest) this.onRequest(msg, inbound);
      else this.onResponse(msg, inbound);
    } catch (err) {
      this.log.warn({ err }, 'error handling SIP message');
    }
  }

  /** Whether the request's User-Agent names one of {@link SipEngineConfig.dropUserAgents}. */
  private isScanner(msg: SipMessage): boolean {
    const drop = this.config.dropUserAgents;
    if (drop.length === 0) return false;
    const agent = msg.get('user-agent')?.toLowerCase();
    return agent !== undefined && drop.some((d) => agent.includes(d));
  }

  /**
   * A request that does not parse: answer 400 (505 for another SIP version) when Via, From, To,
   * Call-ID and CSeq can be salvaged; anything else is dropped.
   * @see RFC 3261 §8.2.2 (505), RFC 4475 §3.1.2.8 (lwsruri), §3.1.2.16 (badvers)
   */
  private answerMalformed(inbound: Inbound): void {
    const text = inbound.data.toString('latin1');
    const first = text.slice(0, text.search(/\r?\n|$/));
    const rl = /^([A-Za-z0-9.!%*_+`'~-]+) .*\bSIP\/(\d+\.\d+) *$/.exec(first);
    if (!rl || rl[1] === 'ACK') return;
    const req = SipMessage.request(rl[1]!, 'sip:invalid');
    for (const line of text.split(/\r?\n/)) {
      const m = /^([A-Za-z-]+)\s*:\s*(.*)$/.exec(line);
      if (!m) continue;
      const key = canonicalHeaderName(m[1]!);
      if (['via', 'from', 'to', 'call-id', 'cseq'].includes(key)) req.append(m[1]!, m[2]!.trim());
      if (line.length === 0) break;
    }
    // the answer goes back to the source address, so a Via that does not parse may stay as it came
    if (req.getAll('via').length === 0) return;
    if (!req.has('call-id') || !req.has('cseq') || !req.has('from') || !req.has('to')) return;
    if (rl[2] !== '2.0') this.answerStateless(req, inbound.peer, 505, 'Version Not Supported');
    else this.answerStateless(req, inbound.peer, SIP_STATUS_FOR_ERROR.SIP_PARSE, 'Bad Request');
  }

  private answerStateless(req: SipMessage, peer: Peer, status: number, reason: string): void {
    this.send(peer, buildResponse(req, status, reason, newTag()).toBuffer());
  }

  /** Adds received/rport to the top Via. @see RFC 3261 §18.2.1, RFC 3581 §4 */
  private stampVia(msg: SipMessage, via: Via, peer: Peer): void {
    const needReceived = via.host !== peer.address;
    const needRport = via.params.has('rport') && via.params.get('rport') === '';
    if (!needReceived && !needRport) return;
    const i = msg.headers.findIndex((h) => h.key === 'via');
    const h = msg.headers[i]!;
    const values = splitHeaderList(h.value);
    let top = values[0]!;
    if (needRport) top = top.replace(/;\s*rport(?=\s*;|\s*$)/i, `;rport=${peer.port}`);
    if (needReceived) top += `;received=${peer.address}`;
    values[0] = top;
    msg.headers[i] = { ...h, value: values.join(', ') };
  }

  private onRequest(msg: SipMessage, inbound: Inbound): void {
    const { peer, local } = inbound;
    const via = parseVia(msg.getAll('via')[0]!)!;
    this.stampVia(msg, via, peer);
    const method = msg.method!;
    if (method === 'ACK') return this.onAck(msg, via, inbound);
    if (method === 'CANCEL') return this.onCancel(msg, via, inbound);
    if (this.layer.absorbRetransmission(msg, via, peer)) return;
    if (!SUPPORTED_URI_SCHEMES.has(uriScheme(msg.uri!))) {
      const txn = this.layer.createServer(msg, via, peer);
      this.layer.respond(txn, buildResponse(msg, 416, 'Unsupported URI Scheme', newTag()));
      return;
    }

    const routedToUs = this.stripOwnRoutes(msg);
    const toTag = tagOf(msg.get('to'));
    const callId = msg.get('call-id')!;
    const raw = msg.toBuffer();
    if (toTag) {
      const dialog = this.dialogs.match(callId, toTag, tagOf(msg.get('from')));
      if (dialog && (dialog.owner as AppConnection).open) {
        const txn = this.layer.createServer(msg, via, peer);
        // RFC 3262 §3: a PRACK that acknowledges no unacknowledged reliable provisional response
        if (method === 'PRACK' && !this.ua.acceptsPrack(dialog, msg)) {
          this.layer.respond(txn, buildResponse(msg, 481, 'Call/Transaction Does Not Exist', newTag()));
          return;
        }
        if (method === 'INVITE') this.layer.respond(txn, buildResponse(msg, 100, 'Trying'));
        this.ua.acceptInDialog(dialog, txn, raw, local);
        return;
      }
      if (dialog) {
        // the owning application is gone: a BYE still ends the dialog (and its 2xx/ACK timers)
        const txn = this.layer.createServer(msg, via, peer);
        if (method === 'BYE') {
          this.dialogs.delete(dialog);
          this.layer.respond(txn, buildResponse(msg, 200, 'OK', newTag()));
        } else this.layer.respond(txn, buildResponse(msg, 481, 'Call/Transaction Does Not Exist', newTag()));
        return;
      }
      // Follow a Route only when the top one was ours (loose routing of a Record-Route'd dialog),
      // as drachtio-server does; anything else would make the engine an open relay.
      if (routedToUs && (msg.has('route') || !this.isLocalUri(msg.uri!))) return this.proxyByRoute(msg, via, peer);
      const txn = this.layer.createServer(msg, via, peer);
      this.layer.respond(txn, buildResponse(msg, 481, 'Call/Transaction Does Not Exist', newTag()));
      return;
    }
    // out of dialog: a foreign Route is ignored (never followed without an application deciding)
    const conn = this.control?.select(method);
    const answer = answerOutOfDialog(method, conn !== undefined, this.control?.hasApplications ?? false, this.control?.routedMethods() ?? []);
    if (!answer && conn && this.ua.overloaded(conn, this.config.maxPendingRequests)) return this.shed(msg, peer);
    const txn = this.layer.createServer(msg, via, peer);
    if (answer || !conn) {
      const res = buildResponse(msg, answer?.status ?? 503, answer?.reason ?? 'Service Unavailable', newTag());
      if (answer?.allow !== undefined) res.append('Allow', answer.allow);
      this.layer.respond(txn, res);
      return;
    }
    // 100 Trying at once, as drachtio-server sends it: phones and drachtio-srf's own tests wait for
    // it before they CANCEL (RFC 3261 §9.1). A challenge's bytes are bounded by Timer G's budget.
    if (method === 'INVITE') this.layer.respond(txn, buildResponse(msg, 100, 'Trying'));
    this.ua.acceptRequest(conn, txn, raw, local);
  }

  /**
   * Refuses a new request while its application is behind ({@link SipEngineConfig.maxPendingRequests}):
   * `503` with `Retry-After: 1`, statelessly (no transaction: a retransmission is judged afresh,
   * by then perhaps delivered), so that an overload costs the engine one small answer per
   * request and ends when the offered load does. @see RFC 3261 §21.5.4
   */
  private shed(msg: SipMessage, peer: Peer): void {
    if (this.shedCount++ % 1000 === 0) this.log.warn({ method: msg.method, shed: this.shedCount }, 'application behind: new requests answered 503');
    const res = buildResponse(msg, 503, 'Service Unavailable', newTag());
    res.append('Retry-After', '1');
    this.send(peer, res.toBuffer());
  }

  /** Removes the top Route entries that name this engine. @see RFC 3261 §16.4 */
  private stripOwnRoutes(msg: SipMessage): boolean {
    let stripped = false;
    for (;;) {
      const top = msg.getAll('route')[0];
      if (top === undefined || !this.isLocalUri(top)) return stripped;
      msg.removeFirstValue('route');
      stripped = true;
    }
  }

  private onAck(msg: SipMessage, via: Via, inbound: Inbound): void {
    const txn = this.layer.findServer(msg, via);
    if (txn && txn.receiveAck()) return;
    const routedToUs = this.stripOwnRoutes(msg);
    const dialog = this.dialogs.match(msg.get('call-id')!, tagOf(msg.get('to')), tagOf(msg.get('from')));
    if (dialog) {
      if ((dialog.owner as AppConnection).open) this.ua.acceptAck(dialog, msg.toBuffer(), inbound.peer, inbound.local);
      else dialog.ackWait = stopTimer(dialog.ackWait);
      return;
    }
    // only through our own Record-Route: never relay on a foreign Route (open relay)
    if (routedToUs && tagOf(msg.get('to')) && (msg.has('route') || !this.isLocalUri(msg.uri!))) this.forwardStateless(msg, inbound.peer);
  }

  private onCancel(msg: SipMessage, via: Via, inbound: Inbound): void {
    if (this.layer.absorbRetransmission(msg, via, inbound.peer)) return;
    const cancelTxn = this.layer.createServer(msg, via, inbound.peer);
    const invite = this.layer.findServer(msg, via, 'INVITE');
    if (!invite) {
      this.layer.respond(cancelTxn, buildResponse(msg, 481, 'Call/Transaction Does Not Exist', newTag()));
      return;
    }
    if (!invite.toTag) invite.toTag = newTag();
    this.layer.respond(cancelTxn, buildResponse(msg, 200, 'OK', invite.toTag));
    if (invite.finalSent) return;
    const owner = invite.owner as TxnOwner | undefined;
    if (owner?.kind === 'proxy') owner.ctx.cancel();
    else if (owner?.kind === 'app') this.ua.acceptCancel(invite, owner.conn, msg.toBuffer(), inbound.peer, inbound.local);
    else this.layer.respond(invite, buildResponse(invite.request, 487, 'Request Terminated', invite.toTag));
  }

  private onResponse(msg: SipMessage, inbound: Inbound): void {
    const vias = msg.getAll('via');
    const via = parseVia(vias[0]!)!;
    const txn = this.layer.matchResponse(msg, via);
    if (txn) return txn.receiveResponse(msg, inbound.data);
    // A 2xx retransmission whose transaction is gone: forward it statelessly when it carries
    // our Via above another (proxied INVITE). @see RFC 3261 §16.7 (stateless forwarding of 2xx)
    const status = msg.status ?? 0;
    if (status >= 200 && status < 300 && vias.length > 1 && this.isLocalUri(`sip:${via.host}:${via.port ?? 5060}`)) {
      const up = msg.clone();
      up.removeFirstValue('via');
      const next = parseVia(vias[1]!);
      if (!next) return;
      const transport: TransportName = next.transport === 'TCP' ? 'tcp' : 'udp';
      const address = next.params.get('received') || next.host;
      const rport = next.params.get('rport');
      this.send({ transport, address, port: rport ? Number(rport) : (next.port ?? 5060) }, up.toBuffer());
    }
  }

  // ---- proxying ------------------------------------------------------------------------------

  /** Forwards a request that is routed through us (Record-Route'd dialog). */
  private proxyByRoute(msg: SipMessage, via: Via, peer: Peer): void {
    const txn = this.layer.createServer(msg, via, peer);
    if (msg.method === 'INVITE') this.layer.respond(txn, buildResponse(msg, 100, 'Trying'));
    const route = msg.getAll('route')[0];
    const nextHop = route !== undefined ? (parseNameAddr(route)?.uri ?? route) : msg.uri!;
    this.startProxy(txn, [{ requestUri: msg.uri!, nextHop }], false, false, 0, 0, []);
  }

  private forwardStateless(msg: SipMessage, peer: Peer): void {
    const route = msg.getAll('route')[0];
    const nextHop = route !== undefined ? (parseNameAddr(route)?.uri ?? route) : msg.uri!;
    resolveUri(nextHop, peer.transport)
      .then((dest) => {
        const fwd = msg.clone();
        const mf = Number(fwd.get('max-forwards') ?? '70');
        if (mf <= 0) return;
        fwd.set('Max-Forwards', String(mf - 1));
        fwd.prepend('Via', `SIP/2.0/${dest.transport.toUpperCase()} ${this.sentBy(dest.transport)};branch=${newBranch()}`);
        this.send(dest, fwd.toBuffer());
      })
      .catch((err: unknown) => this.log.debug({ err }, 'cannot forward ACK'));
  }

  private startProxy(
    txn: ServerTransaction,
    targets: ProxyTarget[],
    recordRoute: boolean,
    simultaneous: boolean,
    provisionalTimeout: number,
    finalTimeout: number,
    extraHeaders: { name: string; value: string }[],
    report?: { conn: AppConnection; msgId: string },
  ): void {
    const ctx = new ProxyContext(
      txn,
      { targets, recordRoute, simultaneous, provisionalTimeout, finalTimeout, extraHeaders, timerC: this.config.proxyTimerCMs },
      {
        layer: this.layer,
        log: this.log,
        resolve: (uri, fallback) => resolveUri(uri, fallback),
        recordRoute: (t) => this.recordRoute(t),
        ...(report
          ? {
              report: (res: SipMessage, raw: Buffer, from: Peer | undefined, txnId: string): void => {
                void res;
                const src = from ? `network|${raw.length}|${from.transport}|${from.address}|${from.port}` : `application|${raw.length}|${txn.peer.transport}|${txn.peer.address}|${txn.peer.port}`;
                report.conn.reply(report.msgId, `OK|${src}|${stackTime()}|${txnId}||continue\r\n${raw.toString('utf8')}`);
              },
              done: (): void => report.conn.reply(report.msgId, 'OK|done'),
            }
          : {}),
      },
    );
    txn.owner = { kind: 'proxy', ctx } satisfies TxnOwner;
    txn.unlimitPending();
    ctx.start();
  }

  // ---- application → engine ------------------------------------------------------------------

  private onCommand(conn: AppConnection, cmd: AppCommand): void {
    if (this._state !== 'running') return conn.reply(cmd.msgId, 'NOK|shutting down');
    try {
      if (cmd.type === 'sip') this.ua.handleSip(conn, cmd);
      else if (cmd.type === 'proxy') this.onProxyCommand(conn, cmd);
    } catch (err) {
      this.log.warn({ err }, 'error handling application command');
      conn.reply(cmd.msgId, 'NOK|internal error');
    }
  }

  /**
   * `proxy|txnId|remainInDialog|fullResponse|followRedirects|simultaneous|provTimeout|finalTimeout|dest...`
   * @see drachtio-srf lib/drachtio-agent.js `proxy`
   */
  private onProxyCommand(conn: AppConnection, cmd: AppCommand): void {
    const [txnId = '', remain = '', , , fork = '', prov = '', fin = '', ...dests] = cmd.tokens;
    const txn = this.layer.serverById(txnId);
    if (!txn || txn.finalSent) return conn.reply(cmd.msgId, 'NOK|transaction not found');
    const extra: { name: string; value: string }[] = [];
    if (cmd.sip) {
      try {
        const stub = parseSipMessage(Buffer.from(cmd.sip, 'utf8'), true);
        for (const h of stub.headers) if (h.key !== 'content-length') extra.push({ name: h.name, value: h.value });
      } catch {
        // a stub without headers
      }
    }
    const route = txn.request.getAll('route')[0];
    const targets = dests.filter((d) => d.length > 0).map((d) => ({ requestUri: d, nextHop: route !== undefined ? (parseNameAddr(route)?.uri ?? route) : d }));
    // as drachtio-server: refuse (the application's proxy promise rejects) rather than report done
    if (targets.length === 0) return conn.reply(cmd.msgId, 'NOK|no destinations');
    const mf = txn.request.get('max-forwards');
    if (mf !== undefined && Number(mf) <= 0) {
      if (!txn.toTag) txn.toTag = newTag();
      this.layer.respond(txn, buildResponse(txn.request, 483, 'Too Many Hops', txn.toTag));
      return conn.reply(cmd.msgId, 'NOK|too many hops');
    }
    this.startProxy(txn, targets, remain === 'remainInDialog', fork === 'simultaneous', parseDuration(prov), parseDuration(fin), extra, { conn, msgId: cmd.msgId });
  }

  /**
   * An application disconnected. Its dialogs keep their 2xx retransmission / no-ACK BYE timers
   * (the phone must not be left hanging); its unanswered server transactions are answered (480,
   * or 200 for a BYE, whose dialog already ended) instead of waiting for an answer that cannot come.
   */
  private onAppClosed(conn: AppConnection): void {
    this.ua.forget(conn);
    for (const txn of this.layer.serversOwnedBy((o) => (o as TxnOwner | undefined)?.kind === 'app' && (o as { conn: AppConnection }).conn === conn)) {
      if (txn.finalSent || txn.released || txn.request.method === 'ACK') continue;
      if (!txn.toTag) txn.toTag = newTag();
      // a BYE has already ended its dialog (at delivery): confirm it rather than fail it
      if (txn.request.method === 'BYE') this.layer.respond(txn, buildResponse(txn.request, 200, 'OK', txn.toTag));
      else this.layer.respond(txn, buildResponse(txn.request, 480, 'Temporarily Unavailable', txn.toTag));
    }
  }
}


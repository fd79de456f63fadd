/**
 * Stateful proxying of one request: serial or simultaneous forking to targets, Record-Route when
 * the application stays in the dialog, provisional/final timeouts per target, CANCEL of pending
 * branches, and choice of the best final response.
 *
 * @see RFC 3261 §16 (proxy behaviour), §16.6 (request forwarding), §16.7 (response processing),
 *   §16.10 (CANCEL); drachtio-server src/sip-proxy-controller.cpp (options it implements)
 */
import type { Logger } from 'pino';
import type { ClientTransaction } from './transaction-client';
import type { ServerTransaction } from './transaction-server';
import { buildResponse, newTag, type TransactionLayer } from './transaction-layer';
import { parseCSeq, SipMessage } from './sip-message';
import { startTimer, stopTimer } from './timers';
import type { Peer, TransportName } from './transport';

/** One place to send the request. */
export interface ProxyTarget {
  /** Request-URI of the forwarded request. */
  requestUri: string;
  /** URI resolved for the next hop (first Route or the Request-URI). */
  nextHop: string;
}

/** How to proxy. */
export interface ProxyOptions {
  targets: ProxyTarget[];
  /** Add Record-Route (dialog-creating requests only). */
  recordRoute: boolean;
  /** Fork to every target at once instead of one after another. */
  simultaneous: boolean;
  /** ms to wait for any provisional before giving up on a target (0: no limit). */
  provisionalTimeout: number;
  /** ms to wait for a final response before giving up on a target (0: no limit). */
  finalTimeout: number;
  /** Headers the application asked to add. */
  extraHeaders: { name: string; value: string }[];
}

/** What the proxy needs from the engine. */
export interface ProxyDeps {
  layer: TransactionLayer;
  log: Logger;
  resolve(uri: string, fallback: TransportName): Promise<Peer>;
  /** Record-Route value for a transport, e.g. `<sip:127.0.0.1:5060;transport=udp;lr>`. */
  recordRoute(transport: TransportName): string;
  /** A response arrived from a target and was forwarded (or was the chosen final). */
  report?(res: SipMessage, raw: Buffer, from: Peer, txnId: string): void;
  /** The proxy finished (final response sent upstream). */
  done?(finalStatus: number): void;
}

interface Branch {
  target: ProxyTarget;
  txn: ClientTransaction | undefined;
  dest: Peer | undefined;
  provisional: boolean;
  final: boolean;
  /** Given up on (timeout or cancelled): later responses are not forwarded. */
  abandoned: boolean;
  cancelOnProvisional: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** One proxied request. */
export class ProxyContext {
  private readonly server: ServerTransaction;
  private readonly request: SipMessage;
  private readonly opts: ProxyOptions;
  private readonly deps: ProxyDeps;
  private readonly branches: Branch[] = [];
  private nextTarget = 0;
  private best: SipMessage | undefined;
  /** Raw bytes and sender of `best` when it came from the network. */
  private lastRaw: { raw: Buffer; from: Peer } | undefined;
  private finished = false;
  private cancelled = false;
  private readonly isInvite: boolean;

  constructor(server: ServerTransaction, opts: ProxyOptions, deps: ProxyDeps) {
    this.server = server;
    this.request = server.request;
    this.opts = opts;
    this.deps = deps;
    this.isInvite = this.request.method === 'INVITE';
  }

  /** Starts forwarding. */
  start(): void {
    const mf = this.request.get('max-forwards');
    if (mf !== undefined && Number(mf) <= 0) {
      this.finish(buildResponse(this.request, 483, 'Too Many Hops', undefined));
      return;
    }
    if (this.opts.targets.length === 0) {
      this.finish(buildResponse(this.request, 480, 'Temporarily Unavailable', undefined));
      return;
    }
    if (this.opts.simultaneous) while (this.nextTarget < this.opts.targets.length) this.forkNext();
    else this.forkNext();
  }

  /** Upstream CANCEL: cancel every pending branch, try no more targets. @see RFC 3261 §16.10 */
  cancel(): void {
    if (this.finished) return;
    this.cancelled = true;
    for (const b of this.branches) this.cancelBranch(b);
    if (this.branches.every((b) => b.final || b.abandoned)) {
      this.finish(buildResponse(this.request, 487, 'Request Terminated', undefined));
    }
  }

  private forkNext(): void {
    const target = this.opts.targets[this.nextTarget++];
    if (!target) return;
    const b: Branch = { target, txn: undefined, dest: undefined, provisional: false, final: false, abandoned: false, cancelOnProvisional: false, timer: undefined };
    this.branches.push(b);
    const inbound = this.server.peer.transport;
    this.deps.resolve(target.nextHop, inbound).then(
      (dest) => this.send(b, dest),
      (err: unknown) => {
        this.deps.log.info({ err, target: target.nextHop }, 'proxy target does not resolve');
        this.branchFailed(b, buildResponse(this.request, 503, 'Service Unavailable', undefined));
      },
    );
  }

  private send(b: Branch, dest: Peer): void {
    if (this.finished || this.cancelled) {
      b.abandoned = true;
      this.checkAllDone();
      return;
    }
    const req = this.request.clone();
    req.uri = b.target.requestUri;
    const mf = req.get('max-forwards');
    req.set('Max-Forwards', String(mf === undefined ? 70 : Math.max(0, Number(mf) - 1)));
    if (this.opts.recordRoute && this.isInvite) {
      const inbound = this.server.peer.transport;
      if (inbound !== dest.transport) req.prepend('Record-Route', this.deps.recordRoute(inbound));
      req.prepend('Record-Route', this.deps.recordRoute(dest.transport));
    }
    for (const h of this.opts.extraHeaders) req.set(h.name, h.value);
    b.dest = dest;
    b.txn = this.deps.layer.sendRequest(req, dest, {
      response: (txn, res, raw, retransmission) => this.onResponse(b, txn, res, raw, retransmission),
      timeout: () => this.branchFailed(b, buildResponse(this.request, 408, 'Request Timeout', undefined)),
    });
    if (this.opts.provisionalTimeout > 0 && this.isInvite) {
      b.timer = startTimer(this.opts.provisionalTimeout, () => {
        if (b.provisional || b.final) return this.armFinalTimer(b);
        b.abandoned = true;
        b.txn?.terminate();
        this.branchFailed(b, buildResponse(this.request, 408, 'Request Timeout', undefined));
      });
    } else this.armFinalTimer(b);
  }

  private armFinalTimer(b: Branch): void {
    b.timer = stopTimer(b.timer);
    if (this.opts.finalTimeout <= 0 || !this.isInvite || b.final) return;
    b.timer = startTimer(this.opts.finalTimeout, () => {
      if (b.final) return;
      this.cancelBranch(b);
      b.abandoned = true;
      this.branchFailed(b, buildResponse(this.request, 408, 'Request Timeout', undefined));
    });
  }

  private onResponse(b: Branch, _txn: ClientTransaction, res: SipMessage, raw: Buffer, retransmission: boolean): void {
    const status = res.status ?? 500;
    if (status < 200) {
      if (!b.provisional) {
        b.provisional = true;
        if (b.cancelOnProvisional) this.sendCancel(b);
        if (this.opts.provisionalTimeout > 0) this.armFinalTimer(b);
      }
      if (status === 100 || b.abandoned || this.finished) return;
      this.forwardUpstream(res);
      this.deps.report?.(res, raw, b.dest!, this.server.id);
      return;
    }
    if (status < 300) {
      b.final = true;
      b.timer = stopTimer(b.timer);
      // every 2xx to INVITE goes upstream, even after the first. @see RFC 3261 §16.7 step 9
      this.forwardUpstream(res);
      if (retransmission || this.finished) return;
      this.deps.report?.(res, raw, b.dest!, this.server.id);
      for (const other of this.branches) if (other !== b) this.cancelBranch(other);
      this.complete(status);
      return;
    }
    if (b.final) return;
    b.final = true;
    b.timer = stopTimer(b.timer);
    if (b.abandoned) {
      this.checkAllDone();
      return;
    }
    this.branchFailed(b, res, raw);
  }

  private branchFailed(b: Branch, res: SipMessage, raw?: Buffer): void {
    b.final = true;
    b.timer = stopTimer(b.timer);
    if (this.finished) return;
    if (!this.best || better(res, this.best)) {
      this.best = res;
      this.lastRaw = raw !== undefined && b.dest ? { raw, from: b.dest } : undefined;
    }
    if (!this.opts.simultaneous && !this.cancelled && this.nextTarget < this.opts.targets.length && (res.status ?? 0) < 600) {
      this.forkNext();
      return;
    }
    this.checkAllDone();
  }

  private checkAllDone(): void {
    if (this.finished) return;
    const pending = this.branches.some((b) => !b.final && !b.abandoned);
    if (pending) return;
    if (!this.opts.simultaneous && !this.cancelled && this.nextTarget < this.opts.targets.length) {
      this.forkNext();
      return;
    }
    const best = this.best ?? buildResponse(this.request, this.cancelled ? 487 : 408, this.cancelled ? 'Request Terminated' : 'Request Timeout', undefined);
    if (this.cancelled && (best.status ?? 0) !== 487 && !this.best) best.status = 487;
    this.finish(best);
  }

  private finish(res: SipMessage): void {
    if (this.finished) return;
    const fromNetwork = this.lastRaw !== undefined && res === this.best;
    this.deps.log.debug({ status: res.status, fromNetwork }, 'proxy finished');
    if (fromNetwork) this.forwardUpstream(res);
    else {
      const local = res.clone();
      if (!this.server.toTag) this.server.toTag = newTag();
      if (!/;\s*tag=/i.test(local.get('to') ?? '')) local.set('To', `${local.get('to')};tag=${this.server.toTag}`);
      this.deps.layer.respond(this.server, local);
    }
    if (fromNetwork) this.deps.report?.(res, this.lastRaw!.raw, this.lastRaw!.from, this.server.id);
    this.complete(res.status ?? 500);
  }

  private complete(status: number): void {
    if (this.finished) return;
    this.finished = true;
    for (const b of this.branches) b.timer = stopTimer(b.timer);
    this.deps.done?.(status);
  }

  private forwardUpstream(res: SipMessage): void {
    const up = res.clone();
    up.removeFirstValue('via');
    this.deps.layer.respond(this.server, up);
  }

  private cancelBranch(b: Branch): void {
    if (b.final || !this.isInvite) {
      b.abandoned = true;
      return;
    }
    if (!b.txn) {
      b.abandoned = true;
      return;
    }
    if (b.provisional) this.sendCancel(b);
    else b.cancelOnProvisional = true;
  }

  private sendCancel(b: Branch): void {
    if (!b.txn || !b.dest || b.final) return;
    const inv = b.txn.request;
    const cancel = SipMessage.request('CANCEL', inv.uri ?? '');
    cancel.append('Via', inv.getAll('via')[0] ?? '');
    cancel.append('Max-Forwards', '70');
    for (const r of inv.getAll('route')) cancel.append('Route', r);
    cancel.append('From', inv.get('from') ?? '');
    cancel.append('To', inv.get('to') ?? '');
    cancel.append('Call-ID', inv.get('call-id') ?? '');
    cancel.append('CSeq', `${parseCSeq(inv.get('cseq'))?.seq ?? 1} CANCEL`);
    this.deps.layer.sendRequest(cancel, b.dest, { response: () => undefined, timeout: () => undefined }, true);
  }
}

/** Whether response a is a better final than b. @see RFC 3261 §16.7 step 6 */
function better(a: SipMessage, b: SipMessage): boolean {
  const sa = a.status ?? 500;
  const sb = b.status ?? 500;
  if (sb >= 600) return false;
  if (sa >= 600) return true;
  const ca = Math.floor(sa / 100);
  const cb = Math.floor(sb / 100);
  if (ca !== cb) return ca < cb;
  if (sb === 408 && sa !== 408) return true;
  return false;
}

/**
 * The engine acting for applications, as drachtio-server does: it delivers network requests and
 * responses to them with drachtio's meta fields, and turns their `sip` commands into responses
 * (To-tag, Via, Record-Route, Contact filled in), new requests (Via, From-tag, Call-ID, CSeq,
 * Max-Forwards, Contact filled in), in-dialog requests (dialog state filled in, ACK for 2xx
 * sent and remembered) and CANCELs.
 *
 * @see RFC 3261 §8 (UA behaviour), §12 (dialogs), §13.3.1.4 (2xx retransmission), §9.1 (CANCEL);
 *   drachtio-srf lib/drachtio-agent.js (`_onMsg`, `_makeRequest`, `sendResponse`, `sendAck`)
 */
import type { Logger } from 'pino';
import type { AppCommand, AppConnection } from './control-server';
import { DialogStore, type Dialog } from './dialogs';
import type { ClientTransaction } from './transaction-client';
import type { ServerTransaction } from './transaction-server';
import { buildResponse, newBranch, newId, newTag, type TransactionLayer } from './transaction-layer';
import { parseSipMessage } from './sip-parser';
import { applicationHeaderName } from './header-names';
import { acceptRSeq, names100rel, ReliableProvisionals, supports100rel } from './reliable-provisional';
import { cancelFor, parseCSeq, parseNameAddr, parseSipUri, SipMessage, tagOf, type SipHeader } from './sip-message';
import { Subscriptions, subscriptionSeconds, terminatesSubscription } from './subscriptions';
import { startTimer, type TimerValues } from './timers';
import type { Peer, TransportName } from './transport';
import type { ProxyContext } from './proxy';

/** Who handles a server transaction: an application, or the proxy core. */
export type TxnOwner = { kind: 'app'; conn: AppConnection } | { kind: 'proxy'; ctx: ProxyContext };

/** State the engine keeps for a request an application sent. */
interface UacRequest {
  conn: AppConnection;
  dialog: Dialog | undefined;
  /** CANCEL waiting for the first provisional response. @see RFC 3261 §9.1 */
  pendingCancel: SipMessage | undefined;
  /** INVITE: the last RSeq per UAS (To-tag) of reliable provisional responses. @see RFC 3262 §4 */
  rseq?: Map<string, number>;
  /** INVITE: early dialogs its reliable provisional responses established. */
  early?: Dialog[];
}

/** What the user agent needs from the engine. */
export interface UserAgentDeps {
  layer: TransactionLayer;
  dialogs: DialogStore;
  log: Logger;
  timers: TimerValues;
  send(peer: Peer, data: Buffer): void;
  resolve(uri: string, fallback: TransportName): Promise<Peer>;
  /** Contact value for a transport, e.g. `<sip:127.0.0.1:5060;transport=tcp>`. */
  contactFor(transport: TransportName): string;
  /** Local address:port for a transport. */
  localFor(transport: TransportName): { address: string; port: number };
  /** `host:port` for Via. */
  sentBy(transport: TransportName): string;
}

const DIALOG_METHODS = new Set(['INVITE', 'UPDATE', 'SUBSCRIBE', 'NOTIFY', 'REFER']);
const MANAGED_HEADERS = new Set(['via', 'from', 'to', 'call-id', 'cseq', 'content-length', 'route', 'max-forwards']);

/**
 * Reason of the BYE the engine sends when a 2xx to INVITE is never ACKed, as drachtio-server
 * writes it (drachtio-srf emits `destroy` with the quoted text as the reason).
 * @see RFC 3326 (Reason header field)
 */
export const ACK_TIMEOUT_REASON = 'SIP;cause=200;text="ACK timeout"';

/** An application's header line, named as drachtio-server writes it (header-names.ts). */
function fromApplication(h: SipHeader): SipHeader {
  return { ...h, name: applicationHeaderName(h.name) };
}

/** drachtio's time meta field: `HH:MM:SS.uuuuuu`. */
export function stackTime(): string {
  const d = new Date();
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds() * 1000, 6)}`;
}

/**
 * Whether the sender of an INVITE is behind NAT as drachtio-server judges it: over UDP, with no
 * Record-Route, its Contact names another host than the source address, or another port (when
 * it names one). Such a phone is reached at the address its INVITE came from.
 * @see drachtio-server src/sip-dialog.cpp (SipDialog::SipDialog, UDP nat check)
 */
export function behindNat(invite: SipMessage, source: Peer): boolean {
  if (source.transport !== 'udp' || invite.has('record-route')) return false;
  const contact = invite.get('contact');
  const uri = contact ? parseSipUri(parseNameAddr(contact)?.uri ?? contact) : undefined;
  if (!uri) return false;
  const host = uri.host.startsWith('[') ? uri.host.slice(1, -1) : uri.host;
  return host !== source.address || (uri.port !== undefined && uri.port !== source.port);
}

/** The application-facing user agent core. */
export class UserAgent {
  private readonly deps: UserAgentDeps;
  private readonly reliable: ReliableProvisionals;
  private readonly subscriptions: Subscriptions;
  /** New requests delivered to each application that it has not answered yet (pruned lazily). */
  private readonly pending = new Map<AppConnection, Set<ServerTransaction>>();
  /** When each application's pending set was last pruned (performance.now()). */
  private readonly pruned = new Map<AppConnection, number>();

  constructor(deps: UserAgentDeps) {
    this.deps = deps;
    this.reliable = new ReliableProvisionals({
      dialogs: deps.dialogs,
      timers: deps.timers,
      log: deps.log,
      fail: (txn, status, reason) => {
        if (!txn.toTag) txn.toTag = newTag();
        deps.layer.respond(txn, buildResponse(txn.request, status, reason, txn.toTag));
      },
    });
    this.subscriptions = new Subscriptions({ dialogs: deps.dialogs, timers: deps.timers, log: deps.log });
  }

  /**
   * A PRACK in `dialog`: true when it acknowledges an unacknowledged reliable provisional response
   * (the application gets it), false when it names none (the caller answers 481). @see RFC 3262 §3
   */
  acceptsPrack(dialog: Dialog, prack: SipMessage): boolean {
    return this.reliable.prack(dialog, prack);
  }

  /**
   * Whether `conn` holds `limit` or more new requests it has not answered (not even with a
   * provisional above 100): it is behind, and more would only queue up in front of it.
   */
  overloaded(conn: AppConnection, limit: number): boolean {
    const set = this.pending.get(conn);
    if (set === undefined || set.size < limit) return false;
    // Answers from the application leave the set at once; what ended otherwise (408 after
    // 64*T1, 487 after CANCEL) is pruned here, at most once a second (not once per request).
    const now = performance.now();
    if (now - (this.pruned.get(conn) ?? 0) >= 1000) {
      this.pruned.set(conn, now);
      for (const txn of set) if (txn.state === 'terminated' || txn.lastStatus > 100) set.delete(txn);
    }
    return set.size >= limit;
  }

  /** An application went away: nothing is pending for it any more. */
  forget(conn: AppConnection): void {
    this.pending.delete(conn);
    this.pruned.delete(conn);
  }

  // ---- network → application -------------------------------------------------------------

  /**
   * Delivers a network request: `sip|network|len|proto|addr|port|time|txnId|dialogId|recvAddr|recvPort|`.
   */
  deliverRequest(conn: AppConnection, txnId: string, raw: Buffer, peer: Peer, local: { address: string; port: number }, dialogId: string): void {
    const text = raw.toString('utf8');
    conn.send(`sip|network|${raw.length}|${peer.transport}|${peer.address}|${peer.port}|${stackTime()}|${txnId}|${dialogId}|${local.address}|${local.port}|\r\n${text}`);
  }

  /** An out-of-dialog request was routed to `conn`. */
  acceptRequest(conn: AppConnection, txn: ServerTransaction, raw: Buffer, local: { address: string; port: number }): void {
    txn.owner = { kind: 'app', conn } satisfies TxnOwner;
    let set = this.pending.get(conn);
    if (set === undefined) this.pending.set(conn, (set = new Set()));
    set.add(txn);
    this.limitPending(txn);
    this.deliverRequest(conn, txn.id, raw, txn.peer, local, '');
  }

  /** An in-dialog request for a dialog an application owns. */
  acceptInDialog(dialog: Dialog, txn: ServerTransaction, raw: Buffer, local: { address: string; port: number }): void {
    const conn = dialog.owner as AppConnection;
    txn.owner = { kind: 'app', conn } satisfies TxnOwner;
    this.limitPending(txn);
    if (txn.request.method === 'INVITE') {
      const contact = txn.request.get('contact');
      const uri = contact ? parseNameAddr(contact)?.uri : undefined;
      if (uri) dialog.remoteTarget = uri;
    }
    this.deliverRequest(conn, txn.id, raw, txn.peer, local, dialog.id);
    // a BYE from the network ends the dialog as soon as it is routed (as drachtio-server does), and
    // so does a NOTIFY ending a subscription
    if (txn.request.method === 'BYE' || terminatesSubscription(txn.request, dialog)) this.deps.dialogs.delete(dialog);
    else if (txn.request.method === 'NOTIFY') this.subscriptions.notified(dialog, txn.request);
  }

  /** An application that never answers must not keep the transaction forever: 408 after 64*T1. */
  private limitPending(txn: ServerTransaction): void {
    txn.limitPending(64 * this.deps.timers.T1, (t) => {
      if (t.released) return t.terminate();
      if (!t.toTag) t.toTag = newTag();
      this.deps.layer.respond(t, buildResponse(t.request, 408, 'Request Timeout', t.toTag));
    });
  }

  /** ACK for a 2xx the application sent: stop retransmitting, hand it to the application. */
  acceptAck(dialog: Dialog, raw: Buffer, peer: Peer, local: { address: string; port: number }): void {
    if (dialog.ackWait) clearTimeout(dialog.ackWait);
    dialog.ackWait = undefined;
    this.deliverRequest(dialog.owner as AppConnection, newId(), raw, peer, local, dialog.id);
  }

  /** CANCEL of an INVITE the application holds: 487 to the INVITE, CANCEL to the application. */
  acceptCancel(inviteTxn: ServerTransaction, conn: AppConnection, raw: Buffer, peer: Peer, local: { address: string; port: number }): void {
    if (!inviteTxn.toTag) inviteTxn.toTag = newTag();
    this.deps.layer.respond(inviteTxn, buildResponse(inviteTxn.request, 487, 'Request Terminated', inviteTxn.toTag));
    this.deliverRequest(conn, inviteTxn.id, raw, peer, local, '');
  }

  // ---- application → network --------------------------------------------------------------

  /** Handles an application's `sip` command. */
  handleSip(conn: AppConnection, cmd: AppCommand): void {
    const txnId = cmd.tokens[0] ?? '';
    const dialogId = cmd.tokens[1] ?? '';
    const proxy = cmd.tokens[2] ?? '';
    let msg: SipMessage;
    try {
      // the body is the rest of the frame: drachtio-srf's Content-Length counts UTF-16 units
      msg = parseSipMessage(Buffer.from(cmd.sip, 'utf8'), true, true);
    } catch (err) {
      this.deps.log.info({ err }, 'application sent an unparseable SIP message');
      conn.reply(cmd.msgId, 'NOK|unparseable SIP message');
      return;
    }
    // drachtio-server's rule: a body without Content-Type is SDP if it looks like SDP, else refused
    if (msg.body.length > 0 && !msg.has('content-type')) {
      if (msg.body.toString('latin1', 0, 3) !== 'v=0') return conn.reply(cmd.msgId, 'NOK|missing content-type');
      msg.append('Content-Type', 'application/sdp');
    }
    if (!msg.isRequest) return this.sendResponse(conn, cmd.msgId, txnId, msg);
    if (msg.method === 'CANCEL' && txnId) return this.sendCancel(conn, cmd.msgId, txnId, msg);
    // an ACK only ever acknowledges a 2xx in a dialog; never a new transaction (no retransmission)
    if (msg.method === 'ACK' && !dialogId) return conn.reply(cmd.msgId, 'NOK|ACK without a dialog');
    if (dialogId) return this.sendInDialog(conn, cmd.msgId, dialogId, msg);
    this.sendNewRequest(conn, cmd.msgId, msg, proxy).catch((err: unknown) => {
      this.deps.log.info({ err }, 'cannot send request');
      conn.reply(cmd.msgId, `NOK|${err instanceof Error ? err.message : 'cannot send request'}`);
    });
  }

  private sendResponse(conn: AppConnection, msgId: string, txnId: string, app: SipMessage): void {
    const txn = this.deps.layer.serverById(txnId);
    if (!txn) return conn.reply(msgId, 'NOK|transaction not found');
    if (txn.released) return conn.reply(msgId, 'NOK|transaction already completed');
    const req = txn.request;
    const status = app.status ?? 500;
    const isInvite = req.method === 'INVITE';
    // RFC 3262: the application asks for reliability with Require: 100rel on a 1xx above 100
    const reliable = isInvite && status > 100 && status < 200 && names100rel(app.get('require'));
    if (reliable && !supports100rel(req)) return conn.reply(msgId, 'NOK|Remote endpoint does not support 100rel');
    if (status > 100) this.pending.get(conn)?.delete(txn);
    const res = SipMessage.response(status, app.reason ?? '');
    for (const h of req.headers) if (h.key === 'via') res.headers.push({ ...h });
    res.append('From', req.get('from') ?? '');
    let to = req.get('to') ?? '';
    if (status > 100 && !tagOf(to)) {
      if (!txn.toTag) txn.toTag = tagOf(app.get('to')) || newTag();
      to += `;tag=${txn.toTag}`;
    }
    res.append('To', to);
    res.append('Call-ID', req.get('call-id') ?? '');
    res.append('CSeq', req.get('cseq') ?? '');
    const establishing = (isInvite && status > 100 && status < 300) || (req.method === 'SUBSCRIBE' && status >= 200 && status < 300);
    if (establishing && !app.has('record-route')) for (const rr of req.getAll('record-route')) res.append('Record-Route', rr);
    // the engine numbers reliable provisional responses itself (an application's RSeq, e.g. copied
    // from the other leg of a B2BUA, would not be its sequence)
    for (const h of app.headers) if (!MANAGED_HEADERS.has(h.key) && !(reliable && h.key === 'rseq')) res.headers.push(fromApplication(h));
    if (establishing && !res.has('contact')) res.append('Contact', this.deps.contactFor(txn.peer.transport));
    res.body = app.body;
    const send = (): void => this.transmitResponse(conn, msgId, txn, res, reliable);
    // a 2xx waits for the PRACK of a reliable provisional response that carried an offer
    if (isInvite && this.reliable.holdFinal(txn, status, send, () => conn.reply(msgId, 'NOK|no PRACK for a reliable provisional response'))) return;
    send();
  }

  /** Sends an application's response (now, or once a PRACK released it) and echoes it back. */
  private transmitResponse(conn: AppConnection, msgId: string, txn: ServerTransaction, res: SipMessage, reliable: boolean): void {
    if (txn.state === 'terminated') return conn.reply(msgId, 'NOK|transaction already completed');
    const req = txn.request;
    const status = res.status ?? 500;
    let wire: Buffer;
    let dialogId = '';
    if (reliable) {
      const dialog = this.uasDialog(conn, txn, req, res, 'invite', true);
      wire = this.reliable.send(txn, dialog, res);
      dialogId = dialog.id;
    } else {
      if (!this.deps.layer.respond(txn, res)) return conn.reply(msgId, 'NOK|transaction already completed');
      wire = res.toBuffer();
      const callId = req.get('call-id') ?? '';
      const toTag = tagOf(req.get('to'));
      if (req.method === 'INVITE' && status >= 200 && status < 300) {
        const dialog = this.uasDialog(conn, txn, req, res, 'invite', false);
        dialogId = dialog.id;
        this.awaitAck(dialog, wire, txn.peer);
      } else if (req.method === 'SUBSCRIBE' && status >= 200 && status < 300 && !toTag) {
        const dialog = this.uasDialog(conn, txn, req, res, 'subscribe', false);
        dialogId = dialog.id;
        this.subscriptions.refresh(dialog, subscriptionSeconds(res, req));
      } else if (txn.toTag || toTag) {
        const d = this.deps.dialogs.match(callId, toTag || txn.toTag, tagOf(req.get('from')));
        if (d) {
          dialogId = d.id;
          if (req.method === 'BYE' && status >= 200) this.deps.dialogs.delete(d);
          else if (req.method === 'SUBSCRIBE' && status >= 200 && status < 300) this.subscriptions.refresh(d, subscriptionSeconds(res, req));
        }
      }
    }
    conn.reply(msgId, `OK|application|${wire.length}|${txn.peer.transport}|${txn.peer.address}|${txn.peer.port}|${stackTime()}|${txn.id}|${dialogId}\r\n${wire.toString('utf8')}`);
  }

  /**
   * The UAS dialog of a response the application sends: the early dialog a reliable provisional
   * response established, confirmed now, or a new one. `req` is the transaction's request (a
   * non-INVITE transaction drops it once answered). @see RFC 3261 §12.1.1
   */
  private uasDialog(conn: AppConnection, txn: ServerTransaction, req: SipMessage, res: SipMessage, usage: 'invite' | 'subscribe', early: boolean): Dialog {
    const callId = req.get('call-id') ?? '';
    const fromTag = tagOf(req.get('from'));
    const to = res.get('to') ?? '';
    const localTag = tagOf(to);
    const found = this.deps.dialogs.match(callId, localTag, fromTag);
    if (found) {
      if (!early) found.early = false;
      return found;
    }
    const contact = req.get('contact');
    const dialog: Dialog = {
      id: DialogStore.dialogId(callId, fromTag),
      role: 'uas',
      callId,
      localTag,
      remoteTag: fromTag,
      localHeader: to,
      remoteHeader: req.get('from') ?? '',
      remoteTarget: (contact ? parseNameAddr(contact)?.uri : undefined) ?? req.uri ?? '',
      routeSet: req.getAll('record-route'),
      localSeq: 0,
      inviteSeq: parseCSeq(req.get('cseq'))?.seq ?? 1,
      peer: txn.peer,
      natPeer: behindNat(req, txn.peer),
      owner: conn,
      lastAck: undefined,
      ackWait: undefined,
      ackDue: false,
      early,
      usage,
    };
    this.deps.dialogs.add(dialog);
    return dialog;
  }

  /** Retransmits a 2xx to INVITE until the ACK arrives; without one, BYE. @see RFC 3261 §13.3.1.4 */
  private awaitAck(dialog: Dialog, wire: Buffer, peer: Peer): void {
    if (dialog.ackWait) clearTimeout(dialog.ackWait);
    const { T1, T2 } = this.deps.timers;
    let interval = T1;
    let elapsed = 0;
    const tick = (): void => {
      elapsed += interval;
      if (elapsed >= 64 * T1) {
        dialog.ackWait = undefined;
        this.ackTimeout(dialog);
        return;
      }
      if (peer.transport === 'udp') this.deps.send(peer, wire);
      // the last wait ends at 64*T1 exactly (Timer H), when drachtio-server sends its BYE
      interval = Math.min(2 * interval, T2, 64 * T1 - elapsed);
      dialog.ackWait = startTimer(interval, tick);
    };
    dialog.ackWait = startTimer(interval, tick);
  }

  /** No ACK came: end the dialog with BYE and tell the application (drachtio's "unsolicited"). */
  private ackTimeout(dialog: Dialog): void {
    this.deps.log.info({ dialogId: dialog.id }, 'no ACK for 2xx: sending BYE');
    const app = SipMessage.request('BYE', dialog.remoteTarget);
    // drachtio-server's wording: drachtio-srf takes the dialog's destroy reason from its text
    app.append('Reason', ACK_TIMEOUT_REASON);
    const bye = this.buildInDialog(dialog, app);
    this.nextHop(dialog).then((dest) => {
      this.deps.layer.sendRequest(bye, dest, { response: () => undefined, timeout: () => undefined });
      const wire = bye.toBuffer();
      const conn = dialog.owner as AppConnection;
      conn.send(`sip|application|${wire.length}|${dest.transport}|${dest.address}|${dest.port}|${stackTime()}|unsolicited|${dialog.id}\r\n${wire.toString('utf8')}`);
    }).catch((err: unknown) => this.deps.log.info({ err }, 'cannot send BYE'));
    this.deps.dialogs.delete(dialog);
  }

  private sendCancel(conn: AppConnection, msgId: string, txnId: string, app: SipMessage): void {
    const txn = this.deps.layer.clientById(txnId);
    if (!txn) return conn.reply(msgId, 'NOK|transaction not found');
    const cancel = cancelFor(txn.request);
    for (const h of app.headers) if (!MANAGED_HEADERS.has(h.key)) cancel.headers.push(fromApplication(h));
    const owner = txn.owner as UacRequest | undefined;
    if (txn.lastStatus >= 200) {
      // too late: the final response is already on its way (RFC 3261 §9.1)
    } else if (txn.lastStatus === 0 && owner) owner.pendingCancel = cancel;
    else this.deps.layer.sendRequest(cancel, txn.dest, { response: () => undefined, timeout: () => undefined }, true);
    const wire = cancel.toBuffer();
    conn.reply(msgId, `OK|application|${wire.length}|${txn.dest.transport}|${txn.dest.address}|${txn.dest.port}|${stackTime()}|${txn.id}|\r\n${wire.toString('utf8')}`);
  }

  private async sendNewRequest(conn: AppConnection, msgId: string, app: SipMessage, proxy: string): Promise<void> {
    const method = app.method!;
    const req = app.clone();
    req.headers = req.headers.map(fromApplication);
    req.remove('via');
    const route = req.getAll('route')[0];
    const nextHop = proxy || (route !== undefined ? (parseNameAddr(route)?.uri ?? route) : req.uri!);
    const dest = await this.deps.resolve(nextHop, 'udp');
    const local = this.deps.localFor(dest.transport);
    const from = req.get('from');
    if (from === undefined) req.set('From', `<sip:${local.address}:${local.port}>;tag=${newTag()}`);
    else if (!tagOf(from)) req.set('From', `${from};tag=${newTag()}`);
    if (!req.has('to')) req.set('To', `<${req.uri}>`);
    if (!req.has('call-id')) req.set('Call-ID', `${newId()}@${local.address}`);
    const cseq = parseCSeq(req.get('cseq'));
    if (!cseq || cseq.method !== method) req.set('CSeq', `${cseq?.seq ?? 1} ${method}`);
    if (!req.has('max-forwards')) req.set('Max-Forwards', '70');
    if (DIALOG_METHODS.has(method) || method === 'REGISTER') {
      if (!req.has('contact')) req.set('Contact', this.deps.contactFor(dest.transport));
    }
    const uac: UacRequest = { conn, dialog: undefined, pendingCancel: undefined };
    this.startClient(conn, msgId, req, dest, uac);
  }

  private startClient(conn: AppConnection, msgId: string, req: SipMessage, dest: Peer, uac: UacRequest): void {
    const txn = this.deps.layer.sendRequest(req, dest, {
      response: (t, res, raw, retransmission) => this.onResponse(t, uac, res, raw, retransmission),
      timeout: (t) => {
        const res = buildResponse(t.request, 408, 'Request Timeout', undefined);
        this.onResponse(t, uac, res, res.toBuffer(), false);
      },
    });
    txn.owner = uac;
    const wire = req.toBuffer();
    conn.reply(msgId, `OK|application|${wire.length}|${dest.transport}|${dest.address}|${dest.port}|${stackTime()}|${txn.id}|${uac.dialog?.id ?? ''}\r\n${wire.toString('utf8')}`);
  }

  private onResponse(txn: ClientTransaction, uac: UacRequest, res: SipMessage, raw: Buffer, retransmission: boolean): void {
    const status = res.status ?? 500;
    const req = txn.request;
    const method = req.method;
    const callId = req.get('call-id') ?? '';
    const localTag = tagOf(req.get('from'));
    const remoteTag = tagOf(res.get('to'));
    // INVITE and SUBSCRIBE responses carry the dialog id (drachtio-srf acks every final response
    // to INVITE with it, PRACKs reliable provisional ones in it, builds its dialog from it)
    let dialogId = uac.dialog?.id ?? ((method === 'INVITE' || method === 'SUBSCRIBE') && remoteTag ? DialogStore.dialogId(callId, localTag) : '');
    if (method === 'INVITE' && status > 100 && status < 200 && res.has('rseq') && remoteTag) {
      // RFC 3262 §4: a retransmission or an RSeq out of sequence is not passed on (nor PRACKed)
      if (!acceptRSeq((uac.rseq ??= new Map()), remoteTag, res.get('rseq')!)) return;
      if (!uac.dialog && !this.deps.dialogs.match(callId, localTag, remoteTag)) (uac.early ??= []).push(this.uacDialog(txn, uac, res, 'invite', true));
    }
    if (method === 'INVITE' && status >= 200 && status < 300) {
      let dialog = uac.dialog ?? this.deps.dialogs.match(callId, localTag, remoteTag);
      if (retransmission) {
        if (dialog?.lastAck) this.deps.send(dialog.peer, dialog.lastAck);
        return;
      }
      const contact = res.get('contact');
      const target = contact ? parseNameAddr(contact)?.uri : undefined;
      if (!dialog) dialog = this.uacDialog(txn, uac, res, 'invite', false);
      else {
        if (target) dialog.remoteTarget = target;
        if (dialog.early) {
          // the 2xx confirms the early dialog; its route set is the 2xx's. @see RFC 3261 §13.2.2.4
          dialog.early = false;
          dialog.routeSet = res.getAll('record-route').reverse();
          dialog.remoteHeader = res.get('to') ?? dialog.remoteHeader;
        }
      }
      for (const e of uac.early ?? []) if (e !== dialog && e.early) this.deps.dialogs.delete(e);
      dialog.ackDue = true;
      dialogId = dialog.id;
    } else if (retransmission) return;
    else if (method === 'INVITE' && status >= 300) for (const e of uac.early ?? []) if (e.early) this.deps.dialogs.delete(e);
    if (method === 'SUBSCRIBE' && status >= 200 && status < 300) {
      // RFC 6665 §4.1.2.1: a 2xx creates the subscription dialog; a 2xx to a refresh extends it
      const dialog = uac.dialog ?? (remoteTag ? (this.deps.dialogs.match(callId, localTag, remoteTag) ?? this.uacDialog(txn, uac, res, 'subscribe', false)) : undefined);
      if (dialog) {
        this.subscriptions.refresh(dialog, subscriptionSeconds(res, req));
        dialogId = dialog.id;
      }
    }
    if (status < 200 && uac.pendingCancel) {
      const cancel = uac.pendingCancel;
      uac.pendingCancel = undefined;
      this.deps.layer.sendRequest(cancel, txn.dest, { response: () => undefined, timeout: () => undefined }, true);
    }
    // a challenged BYE keeps the dialog: drachtio-srf retries it with credentials
    if (method === 'BYE' && status >= 200 && status !== 401 && status !== 407 && uac.dialog) this.deps.dialogs.delete(uac.dialog);
    // a NOTIFY ending the subscription ends the dialog once answered (as drachtio-server does)
    if (method === 'NOTIFY' && status >= 200 && uac.dialog && terminatesSubscription(req, uac.dialog)) this.deps.dialogs.delete(uac.dialog);
    if (!uac.conn.open) return;
    const local = this.deps.localFor(txn.dest.transport);
    uac.conn.send(`sip|network|${raw.length}|${txn.dest.transport}|${txn.dest.address}|${txn.dest.port}|${stackTime()}|${txn.id}|${dialogId}|${local.address}|${local.port}|\r\n${raw.toString('utf8')}`);
  }

  /** A UAC dialog from a response to an application's INVITE or SUBSCRIBE. @see RFC 3261 §12.1.2 */
  private uacDialog(txn: ClientTransaction, uac: UacRequest, res: SipMessage, usage: 'invite' | 'subscribe', early: boolean): Dialog {
    const req = txn.request;
    const callId = req.get('call-id') ?? '';
    const localTag = tagOf(req.get('from'));
    const contact = res.get('contact');
    const seq = parseCSeq(req.get('cseq'))?.seq ?? 1;
    const dialog: Dialog = {
      id: DialogStore.dialogId(callId, localTag),
      role: 'uac',
      callId,
      localTag,
      remoteTag: tagOf(res.get('to')),
      localHeader: req.get('from') ?? '',
      remoteHeader: res.get('to') ?? '',
      remoteTarget: (contact ? parseNameAddr(contact)?.uri : undefined) ?? req.uri ?? '',
      routeSet: res.getAll('record-route').reverse(),
      localSeq: seq,
      inviteSeq: seq,
      peer: txn.dest,
      natPeer: false,
      owner: uac.conn,
      lastAck: undefined,
      ackWait: undefined,
      ackDue: false,
      early,
      usage,
    };
    this.deps.dialogs.add(dialog);
    return dialog;
  }

  /** Builds an in-dialog request from the dialog state and the application's headers/body. */
  private buildInDialog(dialog: Dialog, app: SipMessage): SipMessage {
    const method = app.method!;
    const req = SipMessage.request(method, dialog.remoteTarget);
    req.append('Max-Forwards', '70');
    for (const r of dialog.routeSet) req.append('Route', r);
    req.append('From', dialog.localHeader);
    req.append('To', dialog.remoteHeader);
    req.append('Call-ID', dialog.callId);
    let seq: number;
    if (method === 'ACK') seq = dialog.inviteSeq;
    else {
      seq = ++dialog.localSeq;
      if (method === 'INVITE') dialog.inviteSeq = seq;
    }
    req.append('CSeq', `${seq} ${method}`);
    for (const h of app.headers) if (!MANAGED_HEADERS.has(h.key)) req.headers.push(fromApplication(h));
    if (DIALOG_METHODS.has(method) && !req.has('contact')) req.append('Contact', this.deps.contactFor(dialog.peer.transport));
    req.body = app.body;
    return req;
  }

  /**
   * Next hop of a dialog: the first Route, else the remote target (RFC 3261 §12.2.1.1); the
   * dialog's own peer (its connection / socket) when that is the same transport address, or
   * when the phone is behind NAT ({@link Dialog.natPeer}).
   */
  private async nextHop(dialog: Dialog): Promise<Peer> {
    if (dialog.natPeer) return dialog.peer;
    const first = dialog.routeSet[0];
    const uri = first !== undefined ? (parseNameAddr(first)?.uri ?? first) : dialog.remoteTarget;
    const dest = await this.deps.resolve(uri, dialog.peer.transport);
    const p = dialog.peer;
    if (dest.transport === p.transport && dest.address === p.address && dest.port === p.port) return p;
    return p.localPort !== undefined ? { ...dest, localPort: p.localPort } : dest;
  }

  private sendInDialog(conn: AppConnection, msgId: string, dialogId: string, app: SipMessage): void {
    const dialog = this.deps.dialogs.get(dialogId);
    if (!dialog) return conn.reply(msgId, `NOK|unable to find dialog for id ${dialogId}`);
    const req = this.buildInDialog(dialog, app);
    this.nextHop(dialog)
      .then((dest) => {
        if (req.method === 'ACK') {
          if (!dialog.ackDue) {
            conn.reply(msgId, 'NOK|no 2xx to acknowledge');
            return;
          }
          dialog.ackDue = false;
          req.prepend('Via', `SIP/2.0/${dest.transport.toUpperCase()} ${this.deps.sentBy(dest.transport)};rport;branch=${newBranch()}`);
          const wire = req.toBuffer();
          dialog.lastAck = wire;
          this.deps.send(dest, wire);
          conn.reply(msgId, `OK|application|${wire.length}|${dest.transport}|${dest.address}|${dest.port}|${stackTime()}||${dialog.id}\r\n${wire.toString('utf8')}`);
          return;
        }
        this.startClient(conn, msgId, req, dest, { conn, dialog, pendingCancel: undefined });
      })
      .catch((err: unknown) => conn.reply(msgId, `NOK|${err instanceof Error ? err.message : 'cannot send'}`));
  }
}

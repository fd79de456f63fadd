/**
 * Reliable provisional responses (RFC 3262, "100rel") as drachtio-server gives them to
 * applications.
 *
 * UAS side: an application's 1xx (above 100) to an INVITE that carries `Require: 100rel` is sent
 * reliably when the request supports 100rel (else refused, as drachtio-server does): it gets an
 * `RSeq`, establishes an early dialog (so the PRACK, which has the To-tag, reaches the
 * application with the dialog id), and is retransmitted over UDP at T1, 2*T1, 4*T1... until the
 * PRACK whose `RAck` names it arrives. A second reliable provisional waits for the first one's
 * PRACK; a 2xx waits for the PRACK of a reliable provisional that carried a body (an SDP offer).
 * A PRACK that names no unacknowledged response gets 481. Without a PRACK for 64*T1 the INVITE is
 * answered 504.
 *
 * UAC side: a reliable provisional response (`RSeq`) to an application's INVITE establishes an
 * early dialog, so the PRACK drachtio-srf sends for it goes in that dialog; one whose RSeq is
 * not the next in sequence (a retransmission, or a gap) is dropped before the application sees
 * it, so it is PRACKed once.
 *
 * @see RFC 3262 §3 (UAS), §4 (UAC), §7.1 (RSeq), §7.2 (RAck); RFC 3261 §12.1 (early dialogs);
 *   drachtio-server src/sip-dialog-controller.cpp (doRespondToSipRequest, processPrack)
 */
import type { Logger } from 'pino';
import type { Dialog, DialogStore } from './dialogs';
import { parseCSeq, type SipMessage } from './sip-message';
import type { ServerTransaction } from './transaction-server';
import { startTimer, stopTimer, type TimerValues } from './timers';

/** Whether a header value (a list of option tags) names `100rel`. */
export function names100rel(value: string | undefined): boolean {
  return value !== undefined && value.split(',').some((tag) => tag.trim().toLowerCase() === '100rel');
}

/** Whether a request accepts reliable provisional responses (Supported or Require: 100rel). */
export function supports100rel(req: SipMessage): boolean {
  return req.headers.some((h) => (h.key === 'supported' || h.key === 'require') && names100rel(h.value));
}

/**
 * A parsed RAck: `response-num CSeq-num Method`. Anything after the method is ignored, as
 * drachtio-server does (drachtio-srf's own test phone sends `RAck: 1 1 INVITE INVITE`).
 * @see RFC 3262 §7.2
 */
export function parseRAck(value: string | undefined): { rseq: number; cseq: number; method: string } | undefined {
  const m = /^\s*(\d{1,10})\s+(\d{1,10})\s+([A-Za-z0-9.!%*_+`'~-]+)/.exec(value ?? '');
  if (!m) return undefined;
  return { rseq: Number(m[1]), cseq: Number(m[2]), method: m[3]!.toUpperCase() };
}

/** A reliable provisional response sent or waiting to be sent. */
interface Pending {
  rseq: number;
  status: number;
  wire: Buffer;
  /** Carried a body (an offer): the 2xx must wait for its PRACK. @see RFC 3262 §3 */
  hasBody: boolean;
}

/** UAS state of one INVITE server transaction. */
interface UasState {
  txn: ServerTransaction;
  dialog: Dialog;
  inviteSeq: number;
  nextRSeq: number;
  unacked: Pending | undefined;
  queue: Pending[];
  /** A final response held until the PRACK: `send` sends it, `drop` tells its sender it never went. */
  held: { send: () => void; drop: () => void } | undefined;
  timer: NodeJS.Timeout | undefined;
  interval: number;
  elapsed: number;
}

/** What the reliable-provisional logic needs from the engine. */
export interface ReliableDeps {
  dialogs: DialogStore;
  timers: TimerValues;
  log: Logger;
  /** Answers the INVITE with a final response of the engine's own (504 after 64*T1). */
  fail(txn: ServerTransaction, status: number, reason: string): void;
}

/** UAS-side reliable provisional responses of every pending INVITE. */
export class ReliableProvisionals {
  private readonly deps: ReliableDeps;
  private readonly byTxn = new Map<string, UasState>();
  private readonly byDialog = new Map<Dialog, UasState>();

  constructor(deps: ReliableDeps) {
    this.deps = deps;
  }

  /** INVITEs with reliable provisional state (diagnostics, tests). */
  get size(): number {
    return this.byTxn.size;
  }

  /**
   * Sends `res` (a 1xx to `txn`'s INVITE) reliably, in the early `dialog`: gives it the next
   * RSeq and sends it now, or queues it behind an unacknowledged one.
   *
   * @returns the response as it goes (or will go) on the wire.
   */
  send(txn: ServerTransaction, dialog: Dialog, res: SipMessage): Buffer {
    let st = this.byTxn.get(txn.id);
    if (!st) {
      st = {
        txn,
        dialog,
        inviteSeq: parseCSeq(txn.request.get('cseq'))?.seq ?? 0,
        // RFC 3262 §3: the first RSeq is random, 1..2^31-1, leaving room to count up
        nextRSeq: 1 + Math.floor(Math.random() * 0x3fffffff),
        unacked: undefined,
        queue: [],
        held: undefined,
        timer: undefined,
        interval: this.deps.timers.T1,
        elapsed: 0,
      };
      this.byTxn.set(txn.id, st);
      this.byDialog.set(dialog, st);
      const previous = txn.onFinal;
      txn.onFinal = (status) => {
        previous?.(status);
        this.finished(st!, status);
      };
    }
    res.set('RSeq', String(st.nextRSeq));
    const p: Pending = { rseq: st.nextRSeq++, status: res.status ?? 180, wire: res.toBuffer(), hasBody: res.body.length > 0 };
    if (st.unacked) st.queue.push(p);
    else this.transmit(st, p);
    return p.wire;
  }

  /**
   * A final response to `txn` is about to be sent by `send`: held when it is a 2xx and an
   * unacknowledged reliable provisional carried a body; else the caller sends it at once. A held
   * response that never goes (no PRACK: the INVITE failed 504) is dropped with `drop`.
   *
   * @returns true when held (sent after the PRACK).
   */
  holdFinal(txn: ServerTransaction, status: number, send: () => void, drop: () => void): boolean {
    const st = this.byTxn.get(txn.id);
    if (!st || status >= 300 || status < 200 || st.held) return false;
    if (!st.unacked?.hasBody && !st.queue.some((p) => p.hasBody)) return false;
    st.held = { send, drop };
    return true;
  }

  /**
   * A PRACK arrived in `dialog`. Returns true when its RAck names the unacknowledged reliable
   * provisional response (which is then acknowledged: the next one, or a held final response, goes
   * out); false when it names none (the caller answers 481).
   */
  prack(dialog: Dialog, prack: SipMessage): boolean {
    const st = this.byDialog.get(dialog);
    const rack = parseRAck(prack.get('rack'));
    if (!st || !st.unacked || !rack) return false;
    if (rack.rseq !== st.unacked.rseq || rack.cseq !== st.inviteSeq || rack.method !== 'INVITE') return false;
    st.timer = stopTimer(st.timer);
    st.unacked = undefined;
    const next = st.queue.shift();
    if (next) this.transmit(st, next);
    else if (st.held) {
      const held = st.held;
      st.held = undefined;
      held.send();
    }
    return true;
  }

  private transmit(st: UasState, p: Pending): void {
    st.unacked = p;
    st.txn.respond(p.status, p.wire);
    st.interval = this.deps.timers.T1;
    st.elapsed = 0;
    this.schedule(st);
  }

  /** Retransmits over UDP at T1, 2*T1, 4*T1... (no T2 cap); gives up after 64*T1 on any transport. */
  private schedule(st: UasState): void {
    const { T1 } = this.deps.timers;
    const udp = st.txn.peer.transport === 'udp';
    const wait = udp ? Math.min(st.interval, 64 * T1 - st.elapsed) : 64 * T1 - st.elapsed;
    st.timer = startTimer(wait, () => {
      st.timer = undefined;
      if (!st.unacked || st.txn.state === 'terminated' || st.txn.finalSent) return;
      st.elapsed += wait;
      if (st.elapsed >= 64 * T1) {
        this.deps.log.info({ dialogId: st.dialog.id, rseq: st.unacked.rseq }, 'no PRACK for a reliable provisional response: 504');
        this.deps.fail(st.txn, 504, 'Server Time-out');
        return;
      }
      st.txn.respond(st.unacked.status, st.unacked.wire);
      st.interval *= 2;
      this.schedule(st);
    });
  }

  /** The INVITE got its final response: reliability ends; a failed INVITE ends its early dialog. */
  private finished(st: UasState, status: number): void {
    st.timer = stopTimer(st.timer);
    st.unacked = undefined;
    st.queue = [];
    const held = st.held;
    st.held = undefined;
    held?.drop();
    this.byTxn.delete(st.txn.id);
    this.byDialog.delete(st.dialog);
    if (status >= 300 && st.dialog.early) this.deps.dialogs.delete(st.dialog);
  }
}

/**
 * UAC-side check of a reliable provisional response's RSeq against the last one seen from the
 * same UAS (To-tag): the first is taken as it comes, then only last + 1.
 *
 * @returns true when the response is to be processed (and PRACKed) now.
 * @see RFC 3262 §4
 */
export function acceptRSeq(seen: Map<string, number>, toTag: string, rseqHeader: string): boolean {
  if (!/^\s*\d{1,10}\s*$/.test(rseqHeader)) return false;
  const rseq = Number(rseqHeader);
  const last = seen.get(toTag);
  if (last !== undefined && rseq !== last + 1) return false;
  seen.set(toTag, rseq);
  return true;
}

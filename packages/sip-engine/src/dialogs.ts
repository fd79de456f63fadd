/**
 * Dialog bookkeeping for the dialogs the engine holds on an application's behalf (UAS dialogs
 * from INVITEs the application answered 2xx or with a reliable provisional response, UAC dialogs
 * from INVITEs it sent, subscription dialogs of SUBSCRIBEs answered 2xx), with drachtio's dialog
 * id convention `<Call-ID>;from-tag=<tag of the From in the initial request>`.
 *
 * @see RFC 3261 §12 (dialogs), drachtio-server src/sip-dialog.hpp (getDialogId),
 *   drachtio-srf lib/srf.js (findDialogByCallIDAndFromTag)
 */
import type { Peer } from './transport';

/** One dialog. */
export interface Dialog {
  /** drachtio's stackDialogId. */
  id: string;
  role: 'uac' | 'uas';
  callId: string;
  localTag: string;
  remoteTag: string;
  /** From header value for requests the engine sends in the dialog (with local tag). */
  localHeader: string;
  /** To header value for requests the engine sends in the dialog (with remote tag). */
  remoteHeader: string;
  /** Remote target (Contact URI). @see RFC 3261 §12.1 */
  remoteTarget: string;
  /** Route set, in the order to put in Route headers. */
  routeSet: string[];
  /** Last CSeq number used locally. */
  localSeq: number;
  /** CSeq number of the INVITE that created / last refreshed the dialog (for ACK). */
  inviteSeq: number;
  /** The peer the dialog was established with (used on connection-oriented transports). */
  peer: Peer;
  /**
   * UAS over UDP: the phone is taken to be behind NAT (no Record-Route, and its Contact names
   * another host or port than the INVITE came from), so in-dialog requests go to {@link peer}
   * (the Request-URI stays the Contact), as drachtio-server does.
   * @see drachtio-server src/sip-dialog.cpp (SipDialog::SipDialog, "detected client behind nat")
   */
  natPeer: boolean;
  /** Owner (the application connection). */
  owner: unknown;
  /** The last ACK sent for a 2xx (resent on 2xx retransmissions). */
  lastAck: Buffer | undefined;
  /** A 2xx to an INVITE the application sent arrived and its ACK has not been sent yet. */
  ackDue: boolean;
  /** UAS: timer retransmitting the 2xx until the ACK. @see RFC 3261 §13.3.1.4 */
  ackWait: NodeJS.Timeout | undefined;
  /**
   * An early dialog (a reliable provisional response, RFC 3262), confirmed by the 2xx; default
   * false. @see RFC 3261 §12.1
   */
  early?: boolean;
  /** What created the dialog: an INVITE (default) or a SUBSCRIBE (RFC 6665). */
  usage?: 'invite' | 'subscribe';
  /** A subscription dialog's expiry timer. @see RFC 6665 §4.1.2.1, §4.2.1.1 */
  expiry?: NodeJS.Timeout | undefined;
}

/** Dialog tables. */
export class DialogStore {
  private readonly byId = new Map<string, Dialog>();
  private readonly byTags = new Map<string, Dialog>();

  /** Number of dialogs held. */
  get size(): number {
    return this.byId.size;
  }

  /** Builds drachtio's dialog id. */
  static dialogId(callId: string, fromTag: string): string {
    return `${callId};from-tag=${fromTag}`;
  }

  /** Adds a dialog; replaces one with the same id. */
  add(d: Dialog): void {
    const old = this.byId.get(d.id);
    if (old) this.delete(old);
    this.byId.set(d.id, d);
    this.byTags.set(tagKey(d.callId, d.localTag, d.remoteTag), d);
  }

  /** Finds by drachtio id. */
  get(id: string): Dialog | undefined {
    return this.byId.get(id);
  }

  /** Finds the dialog of an incoming in-dialog request (To tag is ours, From tag theirs). */
  match(callId: string, localTag: string, remoteTag: string): Dialog | undefined {
    return this.byTags.get(tagKey(callId, localTag, remoteTag));
  }

  /** Removes a dialog and stops its timers. */
  delete(d: Dialog): void {
    if (d.ackWait) clearTimeout(d.ackWait);
    d.ackWait = undefined;
    if (d.expiry) clearTimeout(d.expiry);
    d.expiry = undefined;
    if (this.byId.get(d.id) === d) this.byId.delete(d.id);
    const k = tagKey(d.callId, d.localTag, d.remoteTag);
    if (this.byTags.get(k) === d) this.byTags.delete(k);
  }

  /** Every dialog (snapshot). */
  all(): Dialog[] {
    return [...this.byId.values()];
  }
}

function tagKey(callId: string, local: string, remote: string): string {
  return `${callId}\u0000${local}\u0000${remote}`;
}

/**
 * Subscription dialogs (RFC 6665) as drachtio-server keeps them for applications: a 2xx to a
 * SUBSCRIBE creates a dialog (either side), NOTIFY and refreshing SUBSCRIBEs travel in it, and a
 * NOTIFY with `Subscription-State: terminated` ends it (one received ends it at once, one the
 * application sends ends it when answered).
 *
 * Beyond drachtio-server, the engine also bounds how long it keeps one: a subscription is
 * refreshed by every 2xx to a SUBSCRIBE in the dialog and by `Subscription-State: active;
 * expires=N`; when its expiry passes with no refresh and no terminating NOTIFY (a phone that went
 * away without unsubscribing), the engine forgets the dialog 64*T1 later, leaving the notifier
 * application time to send its final NOTIFY (RFC 6665 §4.2.2: `terminated;reason=timeout`). A
 * later request in that dialog gets 481, which tells a subscriber to subscribe anew.
 *
 * @see RFC 6665 §4.1.2 (subscriber), §4.2.1–4.2.2 (notifier), §4.1.3 (481 for an unknown
 *   subscription), §8.2.3 (Subscription-State); drachtio-server src/sip-dialog-controller.cpp
 */
import type { Logger } from 'pino';
import type { Dialog, DialogStore } from './dialogs';
import { parseParams, type SipMessage } from './sip-message';
import { startTimer, stopTimer, type TimerValues } from './timers';

/** Expiry used when neither the response nor the request says (RFC 6665 leaves it to the event package). */
export const DEFAULT_SUBSCRIPTION_SECONDS = 3600;

/** Largest delay a Node.js timer takes (ms); longer subscriptions are re-checked then. */
const MAX_TIMER_MS = 0x7fffffff;

/** The Expires of a 2xx to a SUBSCRIBE: the response's, else the request's, else the default. */
export function subscriptionSeconds(res: SipMessage | undefined, req: SipMessage | undefined): number {
  for (const m of [res, req]) {
    const v = m?.get('expires')?.trim();
    if (v !== undefined && /^\d{1,10}$/.test(v)) return Number(v);
  }
  return DEFAULT_SUBSCRIPTION_SECONDS;
}

/** A parsed Subscription-State (`active;expires=60`, `terminated;reason=timeout`). */
export function subscriptionState(msg: SipMessage): { state: string; expires: number | undefined } | undefined {
  const v = msg.get('subscription-state');
  if (v === undefined) return undefined;
  const semi = v.indexOf(';');
  const state = (semi < 0 ? v : v.slice(0, semi)).trim().toLowerCase();
  const exp = parseParams(semi < 0 ? '' : v.slice(semi)).get('expires');
  return { state, expires: exp !== undefined && /^\d{1,10}$/.test(exp) ? Number(exp) : undefined };
}

/** Whether a NOTIFY ends its subscription dialog (`Subscription-State: terminated`). */
export function terminatesSubscription(notify: SipMessage, dialog: Dialog): boolean {
  return dialog.usage === 'subscribe' && notify.method === 'NOTIFY' && subscriptionState(notify)?.state === 'terminated';
}

/** Keeps subscription dialogs' expiry timers. */
export class Subscriptions {
  private readonly dialogs: DialogStore;
  private readonly timers: TimerValues;
  private readonly log: Logger;

  constructor(deps: { dialogs: DialogStore; timers: TimerValues; log: Logger }) {
    this.dialogs = deps.dialogs;
    this.timers = deps.timers;
    this.log = deps.log;
  }

  /** (Re)arms a subscription dialog's expiry: `seconds` from now, plus 64*T1 of grace. */
  refresh(dialog: Dialog, seconds: number): void {
    if (dialog.usage !== 'subscribe') return;
    dialog.expiry = stopTimer(dialog.expiry);
    this.arm(dialog, seconds * 1000 + 64 * this.timers.T1);
  }

  /** A NOTIFY in the dialog: `active`/`pending` with `expires` refreshes it. */
  notified(dialog: Dialog, notify: SipMessage): void {
    const s = subscriptionState(notify);
    if (s && s.state !== 'terminated' && s.expires !== undefined) this.refresh(dialog, s.expires);
  }

  private arm(dialog: Dialog, ms: number): void {
    const wait = Math.min(ms, MAX_TIMER_MS);
    dialog.expiry = startTimer(wait, () => {
      dialog.expiry = undefined;
      if (this.dialogs.get(dialog.id) !== dialog) return;
      if (ms > wait) return this.arm(dialog, ms - wait);
      this.log.info({ dialogId: dialog.id }, 'subscription expired without refresh or final NOTIFY: dialog forgotten');
      this.dialogs.delete(dialog);
    });
  }
}

/**
 * RFC 3261 timer values and an unref'd timer helper.
 *
 * @see RFC 3261 §17.1.1.1, §17.1.2.2, §17.2.1, §17.2.2 and Table 4 (Appendix A)
 */

/** Timer values in milliseconds. */
export interface TimerValues {
  /** RTT estimate, default 500 ms. */
  T1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses, default 4 s. */
  T2: number;
  /** Maximum duration a message stays in the network, default 5 s. */
  T4: number;
}

/** RFC 3261 defaults. */
export const DEFAULT_TIMERS: Readonly<TimerValues> = { T1: 500, T2: 4000, T4: 5000 };

/** Starts a timer that never keeps the process alive. */
export function startTimer(ms: number, fn: () => void): NodeJS.Timeout {
  const t = setTimeout(fn, ms);
  t.unref();
  return t;
}

/** Clears a timer if set; returns `undefined` to allow `x = stop(x)`. */
export function stopTimer(t: NodeJS.Timeout | undefined): undefined {
  if (t !== undefined) clearTimeout(t);
  return undefined;
}

/** Parses drachtio-srf's timeout syntax (`'2s'`, `'1500ms'`, `'3'` seconds); 0 when absent. */
export function parseDuration(s: string | undefined): number {
  if (s === undefined || s.length === 0) return 0;
  const m = /^(\d+)(ms|s)?$/.exec(s.trim());
  if (!m) return 0;
  return m[2] === 'ms' ? Number(m[1]) : Number(m[1]) * 1000;
}

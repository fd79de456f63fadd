// A login's trim of the worker's seat history (seat-history.ts historyTrim) from a page of the
// oldest keys and the count: the same deletions as from every key, for histories longer than the
// page (a worker at the full FLEXSEAT_SEAT_HISTORY_SIZE of 500 records).
import t from 'tap'
import { HISTORY_PAGE, type HistoryPage, MAX_TRIM, historyTrim } from '@flexseat/registry'

const key = (i: number): string => `p/seat-history/ada/${String(1_700_000_000_000 + i).padStart(13, '0')}-d${i % 2}`
/** The page a login reads of `count` records numbered 0..count-1. */
const page = (count: number, from = 0): HistoryPage => ({ count, oldest: Array.from({ length: Math.min(HISTORY_PAGE, count) }, (_, i) => key(from + i)) })
const deleted = (ops: ReturnType<typeof historyTrim>): string[] => ops.map((op) => (op.type === 'delete' ? op.key : `put ${op.key}`))

t.test('a history held whole by the page: exactly as from every key', async (t) => {
  t.same(historyTrim(page(3), 5, [key(2)], [key(3)]), [], 'under the bound: nothing deleted')
  t.same(deleted(historyTrim(page(3), 3, [key(2)], [key(3)])), [key(0)], 'at the bound: the new seat pushes the oldest out')
  t.same(deleted(historyTrim(page(1), 1, [key(0)], [key(1)])), [], 'a record being written is never deleted (bound 1)')
  // The ended seat's record is gone (expired by its retention): its end puts it anew, one more record.
  t.same(deleted(historyTrim({ count: 2, oldest: [key(1), key(2)] }, 2, [key(0)], [key(3)])), [key(1), key(2)], 'a rewritten key that does not exist counts as new: both older ones go')
})

// Guards tried: taking an ending key past the page as new fails the first two assertions (two
// deleted where one is due); taking a starting key past it as existing fails the first, third and
// fourth (one too few deleted).
t.test('a history longer than the page: the bound kept exactly', async (t) => {
  const full = page(500)
  t.same(deleted(historyTrim(full, 500, [key(499)], [key(500)])), [key(0)], 'the full bound: the ended seat (past the page) exists, the new one does not: one deleted')
  t.same(deleted(historyTrim(page(499), 500, [key(498)], [key(499)])), [], 'one under the bound: nothing deleted')
  t.same(deleted(historyTrim(full, 500, [], [key(500)])), [key(0)], 'a first seat (nothing ended) at the full bound: one deleted')
  // An ending key older than the page's last but not in it: known not to exist (trimmed or expired).
  const gap: HistoryPage = { count: 500, oldest: Array.from({ length: HISTORY_PAGE }, (_, i) => key(i + 1)) }
  t.same(deleted(historyTrim(gap, 500, [key(0)], [key(600)])), [key(1), key(2)], 'a key within the page range that is missing counts as new')
})

t.test('a lowered bound is reached over several logins, MAX_TRIM at a time', async (t) => {
  const ops = historyTrim(page(500), 100, [key(499)], [key(500)])
  t.equal(ops.length, MAX_TRIM, `at most ${MAX_TRIM} deletions in one login`)
  t.same(deleted(ops), Array.from({ length: MAX_TRIM }, (_, i) => key(i)), 'the oldest first')
  t.ok(HISTORY_PAGE >= MAX_TRIM + 2, 'the page holds the most a login deletes and the two records it writes')
})

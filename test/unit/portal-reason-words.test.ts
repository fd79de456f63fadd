import t from 'tap'
import { ReleaseReason } from '@flexseat/proto'
import { releaseWord } from '@flexseat/portal'
import { reasonWords } from '../../packages/portal/web/format'

// Why a seat ended, as the pages say it: the portal turns the registry's ReleaseReason into a
// word (views.ts), the page's one label table turns the word into words (web/format.ts). The
// sign-out policies' reasons (issue 19: TIME_LIMIT, DAILY, IDLE) read right as soon as the
// registry's enum has them; a reason newer than both stays readable.

t.test('the registry\'s reasons as words', async (t) => {
  t.equal(releaseWord(ReleaseReason.RELEASE_REASON_UNSPECIFIED), '', 'still seated')
  t.equal(releaseWord(ReleaseReason.RELEASE_REASON_SIGNED_IN_AGAIN), 'signed-in-again')
  // Guard tried: the fallback as 'unknown': fails.
  t.equal(releaseWord(99 as ReleaseReason), 'reason-99', 'a value this build does not know keeps its number')
})

t.test('the policies\' reasons, from the enum to the page', async (t) => {
  // Guard tried: REASONS without 'daily': "daily" (the word as is), not "daily sign-out".
  t.equal(reasonWords(releaseWord(ReleaseReason.RELEASE_REASON_TIME_LIMIT)), 'time limit')
  t.equal(reasonWords(releaseWord(ReleaseReason.RELEASE_REASON_DAILY)), 'daily sign-out')
  t.equal(reasonWords(releaseWord(ReleaseReason.RELEASE_REASON_IDLE)), 'idle')
})

t.test('the label table', async (t) => {
  // The words RELEASE_REASON_TIME_LIMIT, _DAILY and _IDLE become (views.ts's word()).
  t.equal(reasonWords('time-limit'), 'time limit')
  t.equal(reasonWords('daily'), 'daily sign-out')
  t.equal(reasonWords('idle'), 'idle')
  t.equal(reasonWords('signed-in-again'), 'signed in again at the same desk')
  t.equal(reasonWords(''), 'still seated')
  // Guard tried: the fallback returning the word as is: "reason-99", "hung-call".
  t.equal(reasonWords('reason-99'), 'reason 99')
  t.equal(reasonWords('hung-call'), 'hung call', 'a reason newer than the table: its word, readable')
})

import t from 'tap'
import { Metadata, status } from '@grpc/grpc-js'
import { backoffDelay, describeFailure, ERROR_DETAIL_KEY, ExitCode, isRetryable, retrying, TRANSPORT_ATTEMPTS, UsageError, watchRetryable } from '@flexseat/cli'
import { ErrorCode, ErrorDetail } from '@flexseat/proto'

/** A failed call as grpc-js reports it, with the registry's ErrorDetail in the trailers. */
function failure(code: status, details: string, detail?: Partial<ErrorDetail>): { code: status; details: string; metadata: Metadata; message: string } {
  const metadata = new Metadata()
  if (detail !== undefined) metadata.set(ERROR_DETAIL_KEY, Buffer.from(ErrorDetail.encode(ErrorDetail.fromPartial(detail)).finish()))
  return { code, details, metadata, message: `${code} ${status[code]}: ${details}` }
}

t.test('domain errors exit 1 with the detail in words', async (t) => {
  t.same(describeFailure(failure(status.PERMISSION_DENIED, 'wrong PIN', { code: ErrorCode.ERROR_CODE_WRONG_PIN, attemptsLeft: 2 })), {
    message: 'wrong PIN (2 attempts left)',
    exitCode: ExitCode.Refused,
  }, 'a wrong PIN is a refusal, not a permission failure, though it travels as PERMISSION_DENIED')
  t.same(describeFailure(failure(status.PERMISSION_DENIED, 'wrong PIN', { code: ErrorCode.ERROR_CODE_WRONG_PIN, attemptsLeft: 1 })).message, 'wrong PIN (1 attempt left)')
  t.same(describeFailure(failure(status.INVALID_ARGUMENT, 'user.extension: must be 2 to 15 digits', { code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT, field: 'user.extension' })), {
    message: 'user.extension: must be 2 to 15 digits',
    exitCode: ExitCode.Refused,
  })
  t.equal(describeFailure(failure(status.INVALID_ARGUMENT, 'must be set', { code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT, field: 'request_id' })).message, 'request_id: must be set')
  t.same(describeFailure(failure(status.PERMISSION_DENIED, 'locked', { code: ErrorCode.ERROR_CODE_LOCKED_OUT, lockedUntil: new Date('2026-11-22T04:00:00Z') })), {
    message: 'locked out after too many wrong PINs until 2026-11-22T04:00:00.000Z',
    exitCode: ExitCode.Refused,
  })
  t.same(describeFailure(failure(status.PERMISSION_DENIED, 'locked', { code: ErrorCode.ERROR_CODE_LOCKED_AT_DESK, lockedUntil: new Date('2026-11-22T04:00:00Z') })), {
    message: 'locked at this desk after too many wrong PINs here until 2026-11-22T04:00:00.000Z (other desks still accept the worker)',
    exitCode: ExitCode.Refused,
  })
  for (const code of [ErrorCode.ERROR_CODE_UNKNOWN_EXTENSION, ErrorCode.ERROR_CODE_EXTENSION_TAKEN, ErrorCode.ERROR_CODE_NOT_FLEX_HOST, ErrorCode.ERROR_CODE_ROAMING_NOT_ALLOWED, ErrorCode.ERROR_CODE_SITE_IN_USE, ErrorCode.ERROR_CODE_INTERNAL]) {
    t.equal(describeFailure(failure(status.FAILED_PRECONDITION, 'refused', { code })).exitCode, ExitCode.Refused, ErrorCode[code])
  }
})

t.test('authentication and permission exit 4, unavailability and deadlines exit 3', async (t) => {
  t.same(describeFailure(failure(status.UNAUTHENTICATED, 'missing token', { code: ErrorCode.ERROR_CODE_UNAUTHENTICATED }), { tokenGiven: false }), {
    message: 'missing token (no token given: use --token-file, --token or FLEXSEAT_TOKEN)',
    exitCode: ExitCode.Auth,
  })
  t.equal(describeFailure(failure(status.UNAUTHENTICATED, 'unknown token')).exitCode, ExitCode.Auth, 'without a detail, by gRPC status')
  t.equal(describeFailure(failure(status.PERMISSION_DENIED, 'viewers may not', { code: ErrorCode.ERROR_CODE_PERMISSION_DENIED })).exitCode, ExitCode.Auth)
  t.equal(describeFailure(failure(status.PERMISSION_DENIED, 'no')).exitCode, ExitCode.Auth)
  t.same(describeFailure(failure(status.UNAVAILABLE, 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: '), { address: '127.0.0.1:1' }), {
    message: 'the registry at 127.0.0.1:1 is unavailable (No connection established. last error: connect ECONNREFUSED 127.0.0.1:1)',
    exitCode: ExitCode.Unavailable,
  })
  t.same(describeFailure(failure(status.DEADLINE_EXCEEDED, 'Deadline exceeded'), { address: 'r:1', timeoutMs: 250 }), {
    message: 'no answer from the registry at r:1 within 250 ms',
    exitCode: ExitCode.Unavailable,
  })
  t.equal(describeFailure(failure(status.UNAVAILABLE, 'no leader', { code: ErrorCode.ERROR_CODE_NOT_LEADER, retryAfterMs: 100 })).exitCode, ExitCode.Unavailable)
})

t.test('usage and local errors, interrupts, and faults of the CLI itself', async (t) => {
  t.same(describeFailure(new UsageError('seats: unknown option --x')), { message: 'seats: unknown option --x', exitCode: ExitCode.Usage })
  t.equal(describeFailure(new DOMException('This operation was aborted', 'AbortError')).exitCode, ExitCode.Interrupted)
  t.same(describeFailure(new TypeError('boom')), { message: 'unexpected failure: boom', exitCode: ExitCode.Refused })
})

t.test('what is retried: UNAVAILABLE / NOT_LEADER, never refusals', async (t) => {
  t.ok(isRetryable(failure(status.UNAVAILABLE, 'connect ECONNREFUSED')))
  t.ok(isRetryable(failure(status.UNAVAILABLE, 'not leader', { code: ErrorCode.ERROR_CODE_NOT_LEADER })))
  t.ok(isRetryable(failure(status.UNAVAILABLE, 'no quorum', { code: ErrorCode.ERROR_CODE_UNAVAILABLE })))
  t.notOk(isRetryable(failure(status.PERMISSION_DENIED, 'wrong PIN', { code: ErrorCode.ERROR_CODE_WRONG_PIN })))
  t.notOk(isRetryable(failure(status.DEADLINE_EXCEEDED, 'deadline')), 'a deadline used up the time budget')
  t.notOk(isRetryable(new Error('x')))
  t.ok(watchRetryable(failure(status.CANCELLED, 'server shutting down')), 'a watch reopens after a server-side cancel')
  t.notOk(watchRetryable(failure(status.UNAUTHENTICATED, 'no token')))
})

t.test('retrying repeats the same operation with growing, bounded, hinted delays', async (t) => {
  const policy = { attempts: 4, baseDelayMs: 10, maxDelayMs: 25 }
  t.equal(backoffDelay(policy, 1, 0, () => 0), 5)
  t.equal(backoffDelay(policy, 1, 0, () => 1), 10)
  t.equal(backoffDelay(policy, 3, 0, () => 1), 25, 'capped')
  t.equal(backoffDelay(policy, 1, 20, () => 0), 20, 'the server hint is a lower bound')
  const seen: number[] = []
  const unavailable = failure(status.UNAVAILABLE, 'down')
  const result = await retrying(
    async (attempt) => {
      seen.push(attempt)
      if (attempt < 3) throw unavailable
      return 'ok'
    },
    { policy, retryable: isRetryable },
  )
  t.equal(result, 'ok')
  t.same(seen, [1, 2, 3])
  let calls = 0
  const noLeader = failure(status.UNAVAILABLE, 'no leader', { code: ErrorCode.ERROR_CODE_NOT_LEADER })
  await t.rejects(retrying(async () => { calls++; throw noLeader }, { policy, retryable: isRetryable }), noLeader)
  t.equal(calls, 4, 'a leader change is retried as long as the policy allows, then given up')
  calls = 0
  await t.rejects(retrying(async () => { calls++; throw unavailable }, { policy, retryable: isRetryable }), unavailable)
  t.equal(calls, TRANSPORT_ATTEMPTS, 'a registry that cannot be reached at all is given up sooner')
  calls = 0
  const refused = failure(status.PERMISSION_DENIED, 'wrong PIN', { code: ErrorCode.ERROR_CODE_WRONG_PIN })
  await t.rejects(retrying(async () => { calls++; throw refused }, { policy, retryable: isRetryable }), refused)
  t.equal(calls, 1, 'a refusal is not retried')
})

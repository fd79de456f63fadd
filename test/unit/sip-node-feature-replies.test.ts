// Feature-code outcomes and registry errors → the final response and the display text, exactly
// as packages/sip-node/README.md's table says.
import t from 'tap'
import { status } from '@grpc/grpc-js'
import { ErrorCode, ErrorDetail } from '@flexseat/proto'
import { featureReply, RegistryCallError } from '@flexseat/sip-node'

const codes = { login: '*51', changePin: '*52' }
const NOW = Date.parse('2030-01-01T12:00:00Z')

function registryError(code: ErrorCode, detail: Partial<ErrorDetail> = {}, grpcCode: number = status.PERMISSION_DENIED): RegistryCallError {
  return new RegistryCallError('test', { code, grpcCode, detail: ErrorDetail.fromPartial({ code, ...detail }) })
}
const failed = (error: unknown, extension?: string) => featureReply({ kind: 'failed', error, ...(extension === undefined ? {} : { extension }) }, codes, NOW)

t.test('successes answer 480 (no dialog) with the display text', async (t) => {
  t.same(featureReply({ kind: 'signed-in', extension: '1001', displayName: 'Ada Lovelace' }, codes, NOW), { status: 480, reason: 'Signed in as 1001', headers: {}, message: 'Signed in as 1001 (Ada Lovelace)' })
  t.same(featureReply({ kind: 'signed-in', extension: '1001', displayName: '' }, codes, NOW).message, 'Signed in as 1001', 'no name: no parentheses')
  t.same(
    featureReply({ kind: 'signed-in', extension: '1001', displayName: 'Ada Lovelace', endedAt: 'Amsterdam, desk 1' }, codes, NOW),
    { status: 480, reason: 'Signed in as 1001', headers: {}, message: 'Signed in as 1001 (Ada Lovelace) — signed out of Amsterdam, desk 1' },
    'a takeover names the seat it ended',
  )
  t.same(featureReply({ kind: 'signed-out', extension: '1001' }, codes, NOW), { status: 480, reason: 'Signed out 1001', headers: {}, message: '1001 signed out' })
  t.same(featureReply({ kind: 'pin-changed', extension: '1001' }, codes, NOW), { status: 480, reason: 'PIN changed', headers: {}, message: 'PIN changed for 1001' })
  t.same(featureReply({ kind: 'renewed', extension: '1001', until: '21:00' }, codes, NOW), { status: 480, reason: 'Seat renewed', headers: {}, message: 'Seat renewed until 21:00' })
  t.same(featureReply({ kind: 'failed', error: registryError(ErrorCode.ERROR_CODE_NOT_SEATED_HERE, {}, status.FAILED_PRECONDITION), extension: '1001' }, codes, NOW).reason, '1001 not signed in here', 'a renewal the registry refused: the seat moved meanwhile')
  t.same(featureReply({ kind: 'renewed', extension: '1001' }, codes, NOW), { status: 480, reason: 'Seat renewed', headers: {}, message: 'Seat renewed for 1001' }, 'a seat without a scheduled end')
  t.same(featureReply({ kind: 'nobody-seated' }, codes, NOW), { status: 403, reason: 'Nobody signed in here', headers: {}, message: 'Nobody signed in here' })
})

t.test('malformed codes: 484 with the expected form, no MESSAGE', async (t) => {
  t.same(featureReply({ kind: 'malformed', feature: 'login' }, codes, NOW), { status: 484, reason: 'Dial *51*extension*PIN', headers: {}, message: undefined })
  t.same(featureReply({ kind: 'malformed', feature: 'change-pin' }, codes, NOW), { status: 484, reason: 'Dial *52*old PIN*new PIN', headers: {}, message: undefined })
  t.equal(featureReply({ kind: 'malformed', feature: 'login' }, { login: '#7', changePin: '#8' }, NOW).reason, 'Dial #7*extension*PIN', "the site's own code")
})

t.test('registry errors', async (t) => {
  t.same(failed(registryError(ErrorCode.ERROR_CODE_WRONG_PIN, { attemptsLeft: 3 }), '1001'), { status: 403, reason: 'Wrong PIN - 3 tries left', headers: {}, message: 'Wrong PIN - 3 tries left' })
  t.equal(failed(registryError(ErrorCode.ERROR_CODE_WRONG_PIN, { attemptsLeft: 4 })).reason, 'Wrong PIN - 4 tries left')
  t.equal(failed(registryError(ErrorCode.ERROR_CODE_WRONG_PIN, { attemptsLeft: 1 })).reason, 'Wrong PIN - 1 try left', 'singular')
  const locked = (ms: number) => failed(registryError(ErrorCode.ERROR_CODE_LOCKED_OUT, { lockedUntil: new Date(NOW + ms) }))
  t.same(locked(14 * 60_000), { status: 403, reason: 'Locked at every desk for 14 min', headers: {}, message: 'Locked at every desk for 14 min' })
  t.equal(locked(13 * 60_000 + 1).reason, 'Locked at every desk for 14 min', 'minutes are rounded up')
  t.equal(locked(30_000).reason, 'Locked at every desk for 1 min')
  t.equal(locked(-5_000).reason, 'Locked at every desk for 1 min', 'never 0 or negative')
  t.equal(failed(registryError(ErrorCode.ERROR_CODE_LOCKED_OUT)).reason, 'Locked at every desk for 1 min', 'no time given')
  const atDesk = failed(registryError(ErrorCode.ERROR_CODE_LOCKED_AT_DESK, { lockedUntil: new Date(NOW + 9 * 60_000 + 1) }), '1001')
  t.same(atDesk, { status: 403, reason: 'Locked at this desk for 10 min', headers: {}, message: 'Locked at this desk for 10 min' }, 'locked at this desk only: the phone says which lock')
  t.equal(failed(registryError(ErrorCode.ERROR_CODE_LOCKED_AT_DESK)).reason, 'Locked at this desk for 1 min', 'no time given')
  const paused = failed(registryError(ErrorCode.ERROR_CODE_DESK_THROTTLED, { lockedUntil: new Date(NOW + 11 * 60_000 + 1) }, status.RESOURCE_EXHAUSTED), '1001')
  t.same(paused, { status: 403, reason: 'Too many wrong PINs here - wait 12 min', headers: {}, message: 'Too many wrong PINs here - wait 12 min' }, 'the desk paused: the phone is told to wait, not that the worker is locked')
  t.same(failed(registryError(ErrorCode.ERROR_CODE_UNKNOWN_EXTENSION, {}, status.NOT_FOUND), '1009'), { status: 404, reason: 'Unknown extension 1009', headers: {}, message: 'Unknown extension 1009' })
  t.same(failed(registryError(ErrorCode.ERROR_CODE_NOT_FLEX_HOST, {}, status.FAILED_PRECONDITION)), { status: 403, reason: 'Not a flex desk', headers: {}, message: 'Not a flex desk' })
  t.same(failed(registryError(ErrorCode.ERROR_CODE_ROAMING_NOT_ALLOWED)), { status: 403, reason: 'Not allowed at this branch', headers: {}, message: 'Not allowed at this branch' })
  t.same(failed(registryError(ErrorCode.ERROR_CODE_NO_PIN)), { status: 403, reason: 'No PIN set - ask an administrator', headers: {}, message: 'No PIN set - ask an administrator' })
  t.same(failed(registryError(ErrorCode.ERROR_CODE_USER_DISABLED)), { status: 403, reason: 'Account disabled', headers: {}, message: 'Account disabled' })
  const unavailable = { status: 503, reason: 'Sign-in unavailable', headers: { 'Retry-After': '5' }, message: undefined }
  t.same(failed(registryError(ErrorCode.ERROR_CODE_UNAVAILABLE, {}, status.UNAVAILABLE)), unavailable)
  t.same(failed(new RegistryCallError('transport', { code: ErrorCode.ERROR_CODE_UNAVAILABLE, grpcCode: status.DEADLINE_EXCEEDED })), unavailable, 'a transport failure without detail')
  t.same(failed(registryError(ErrorCode.ERROR_CODE_NOT_LEADER, {}, status.UNAVAILABLE)), unavailable)
  t.same(failed(new Error('anything else')), unavailable, 'an unexpected error: the phone can only retry')
})

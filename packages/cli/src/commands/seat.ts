import {
  GetSeatRequest,
  GetSeatResponse,
  LoginResponse,
  LogoutRequest,
  LogoutResponse,
  ReleaseReason,
  Seat,
} from '@flexseat/proto'
import { UsageError } from '../errors'
import { describeSeat, formatSeats } from '../format-records'
import { type CommandSpec, newRequestId, pinOption } from './command'

const login: CommandSpec = {
  path: ['login'],
  synopsis: '<extension> --device ID [--hours N] [--pin-stdin | --pin N]',
  summary: 'seat a worker at a device (moves their seat; bumps whoever sat there)',
  details:
    'As an administrator no PIN is needed. With --pin-stdin (or --pin) the PIN is checked as at a\n' +
    'phone, and wrong PINs count towards the lockout.',
  options: ['device', 'hours', 'pin-stdin', 'pin'],
  positionals: { min: 1, max: 1, names: '<extension>' },
  async run(context) {
    const { input } = context
    const extension = input.positionals[0] ?? ''
    const deviceId = input.required('device')
    const durationHours = input.integer('hours') ?? 0
    const pin = (await pinOption(context, { label: 'PIN' }, false)) ?? ''
    const client = context.client()
    const s = client.seats
    const response = await client.call(s.login.bind(s), { requestId: newRequestId(), deviceId, extension, pin, durationHours }, context.signal)
    if (context.json) {
      context.printJson(LoginResponse.toJSON(response))
      return
    }
    if (response.seat) context.print(`seated   ${describeSeat(response.seat)}\n`)
    if (response.revoked) context.print(`revoked  ${describeSeat(response.revoked)}\n`)
    if (response.bumped) context.print(`bumped   ${describeSeat(response.bumped)}\n`)
  },
}

const REASONS: Readonly<Record<string, ReleaseReason>> = {
  admin: ReleaseReason.RELEASE_REASON_ADMIN,
  logout: ReleaseReason.RELEASE_REASON_LOGOUT,
}

const logout: CommandSpec = {
  path: ['logout'],
  synopsis: '(--user ID | --ext N | --device ID) [--reason admin|logout]',
  summary: 'release a seat, found by user, extension or device (idempotent)',
  options: ['user', 'ext', 'device', 'reason'],
  async run(context) {
    const { input } = context
    const [which, value] = input.oneOf(['user', 'ext', 'device'] as const)
    const reasonName = input.string('reason') ?? 'admin'
    const reason = REASONS[reasonName]
    if (reason === undefined) throw new UsageError('logout: --reason must be admin or logout', 'logout')
    const target: LogoutRequest['target'] =
      which === 'user' ? { $case: 'userId', value } : which === 'ext' ? { $case: 'extension', value } : { $case: 'deviceId', value }
    const client = context.client()
    const s = client.seats
    const response = await client.call(s.logout.bind(s), { requestId: newRequestId(), target, reason }, context.signal)
    if (context.json) context.printJson(LogoutResponse.toJSON(response))
    else context.print(response.released ? `released ${describeSeat(response.released)}\n` : 'no seat to release\n')
  },
}

const seats: CommandSpec = {
  path: ['seats'],
  synopsis: '[--site SITE]',
  summary: 'list the seats (every page), optionally of one site',
  options: ['site'],
  async run(context) {
    const client = context.client()
    const s = client.seats
    const all: Seat[] = []
    let pageToken = ''
    let revision = '0'
    do {
      const page = await client.call(s.listSeats.bind(s), { siteId: context.input.string('site') ?? '', pageSize: 1000, pageToken }, context.signal)
      all.push(...page.seats)
      pageToken = page.nextPageToken
      revision = page.revision
    } while (pageToken !== '')
    // The list is there even when empty (proto3 JSON would leave it out), for `jq '.seats[]'`.
    if (context.json) context.printJson({ seats: all.map((s) => Seat.toJSON(s)), revision })
    else context.print(formatSeats(all))
  },
}

const seat: CommandSpec = {
  path: ['seat'],
  synopsis: '(--user ID | --ext N | --device ID)',
  summary: 'show the seat of a user or extension, or the seat a device hosts',
  options: ['user', 'ext', 'device'],
  async run(context) {
    const [which, value] = context.input.oneOf(['user', 'ext', 'device'] as const)
    const target: GetSeatRequest['target'] =
      which === 'user' ? { $case: 'userId', value } : which === 'ext' ? { $case: 'extension', value } : { $case: 'deviceId', value }
    const client = context.client()
    const s = client.seats
    const response = await client.call(s.getSeat.bind(s), { target }, context.signal)
    if (context.json) context.printJson(GetSeatResponse.toJSON(response))
    else context.print(response.seat ? `${describeSeat(response.seat)}\n` : 'nobody seated\n')
  },
}

const pinChange: CommandSpec = {
  path: ['pin', 'change'],
  synopsis: '--ext N',
  summary: 'change a worker\'s PIN given the old one (as *52 at a phone)',
  details:
    'Reads the old and the new PIN from stdin: prompted without echo on a terminal (the new one\n' +
    'twice), else the first two lines. Wrong old PINs count towards the lockout.',
  options: ['ext'],
  async run(context) {
    const extension = context.input.required('ext')
    const [oldPin, newPin] = await context.readPins([{ label: 'old PIN' }, { label: 'new PIN', confirm: true }])
    const client = context.client()
    const d = client.directory
    await client.call(d.changePin.bind(d), { requestId: newRequestId(), extension, oldPin: oldPin ?? '', newPin: newPin ?? '' }, context.signal)
    if (context.json) context.printJson({ pinChanged: { extension } })
    else context.print(`PIN of ${extension} changed\n`)
  },
}

/** Sign-in, sign-out and seat lookups, and the PIN change. */
export const SEAT_COMMANDS: readonly CommandSpec[] = [login, logout, seats, seat, pinChange]

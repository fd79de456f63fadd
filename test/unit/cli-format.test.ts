import t from 'tap'
import { PassThrough } from 'node:stream'
import {
  COMMANDS,
  describeBranch,
  formatBindings,
  formatClusterStatus,
  formatFields,
  formatSeatChanges,
  formatSeatEvent,
  formatSeats,
  formatSeatSnapshot,
  formatTable,
  formatTime,
  formatUsers,
  readLines,
  readPins,
  topUsage,
} from '@flexseat/cli'
import {
  GetClusterStatusResponse,
  InstanceHealth,
  ListBindingsResponse,
  ListSeatsResponse,
  ReleaseReason,
  type Seat,
  SeatEventType,
  SeatVia,
  SnapshotReason,
  User,
  WatchSeatsResponse,
} from '@flexseat/proto'

const seat: Seat = {
  userId: 'ada',
  extension: '1001',
  displayName: 'Ada Lovelace',
  deviceId: 'desk-3',
  siteId: 'berlin',
  since: new Date('2026-11-22T03:20:00.123Z'),
  expiresAt: new Date('2026-11-22T11:20:00Z'),
  via: SeatVia.SEAT_VIA_ADMIN,
  epoch: '9007199254740993',
  pending: [],
  dailySignOutAt: undefined,
  idleSeconds: 0,
  dailySignOut: '',
  warnSeconds: 0, renewedAt: undefined, profileChangedAt: undefined,
}

t.test('formatTable aligns columns, right-aligns numbers on request, no trailing blanks', async (t) => {
  const text = formatTable(['ID', { heading: 'N', align: 'right' }, 'NOTE'], [
    ['a', '5', ''],
    ['long-id', '12345', 'two\nlines'],
  ])
  t.equal(text, ['ID           N  NOTE', 'a            5  -', 'long-id  12345  two lines', ''].join('\n'))
  t.equal(formatTable(['Zoë', 'X'], [['ë', 'y']]), 'Zoë  X\në    y\n', 'widths count code points')
  t.equal(formatFields([['id', 'ada'], ['skip', undefined], ['extension', '']]), 'id         ada\nextension  -\n')
  t.equal(formatTime(new Date('2026-01-02T03:04:05.678Z')), '2026-01-02T03:04:05Z')
  t.equal(formatTime(undefined), '-')
})

t.test('the seats table has the documented columns and values', async (t) => {
  const lines = formatSeats([seat, { ...seat, userId: 'bob', extension: '1002', displayName: 'Bob', deviceId: 'd1', siteId: 'amsterdam', expiresAt: undefined, via: SeatVia.SEAT_VIA_PHONE, epoch: '7' }]).split('\n')
  t.match(lines[0], /^EXTENSION\s+NAME\s+DEVICE\s+SITE\s+SINCE\s+EXPIRES\s+VIA\s+EPOCH$/)
  t.match(lines[1], /^1001\s+Ada Lovelace\s+desk-3\s+berlin\s+2026-11-22T03:20:00Z\s+2026-11-22T11:20:00Z\s+admin\s+9007199254740993$/)
  t.match(lines[2], /^1002\s+Bob\s+d1\s+amsterdam\s+2026-11-22T03:20:00Z\s+-\s+phone\s+7$/)
  t.equal(lines[1]!.indexOf('desk-3'), lines[0]!.indexOf('DEVICE'), 'columns line up')
  t.equal(lines[2]!.length, lines[1]!.length, 'the right-aligned epoch column ends in the same place')
  t.equal(formatSeats([]), 'EXTENSION  NAME  DEVICE  SITE  SINCE  EXPIRES  VIA  EPOCH\n', 'an empty list is just the heading')
})

t.test('JSON output: ISO timestamps, int64 as strings, enum names', async (t) => {
  const doc = JSON.parse(JSON.stringify(ListSeatsResponse.toJSON({ seats: [seat], nextPageToken: '', revision: '9007199254740995' })))
  t.same(doc, {
    seats: [{ userId: 'ada', extension: '1001', displayName: 'Ada Lovelace', deviceId: 'desk-3', siteId: 'berlin', since: '2026-11-22T03:20:00.123Z', expiresAt: '2026-11-22T11:20:00.000Z', via: 'SEAT_VIA_ADMIN', epoch: '9007199254740993' }],
    revision: '9007199254740995',
  })
  const line = JSON.stringify(WatchSeatsResponse.toJSON({ message: { $case: 'changes', value: { revision: '42', events: [{ type: SeatEventType.SEAT_EVENT_TYPE_RELEASED, seat, reason: ReleaseReason.RELEASE_REASON_MOVED, revision: '42' }] } } }))
  t.notMatch(line, /\n/, 'one line per message')
  t.match(JSON.parse(line), { changes: { revision: '42', events: [{ type: 'SEAT_EVENT_TYPE_RELEASED', reason: 'RELEASE_REASON_MOVED', revision: '42' }] } })
})

t.test('watch lines: time, type, extension, device@site, how or why, epoch', async (t) => {
  const now = new Date('2026-11-22T04:00:00Z')
  t.equal(formatSeatEvent({ type: SeatEventType.SEAT_EVENT_TYPE_SEATED, seat, reason: 0, revision: '41' }, now), '2026-11-22T03:20:00Z  SEATED    1001    desk-3@berlin  admin  epoch 9007199254740993')
  t.equal(
    formatSeatEvent({ type: SeatEventType.SEAT_EVENT_TYPE_RELEASED, seat, reason: ReleaseReason.RELEASE_REASON_BUMPED, revision: '50' }, now),
    '2026-11-22T04:00:00Z  RELEASED  1001    desk-3@berlin  bumped  epoch 50',
    'a release is timed on receipt and carries the release revision',
  )
  t.equal(
    formatSeatChanges(
      {
        revision: '50',
        events: [
          { type: SeatEventType.SEAT_EVENT_TYPE_RELEASED, seat, reason: ReleaseReason.RELEASE_REASON_BUMPED, revision: '50' },
          { type: SeatEventType.SEAT_EVENT_TYPE_SEATED, seat: { ...seat, extension: '1002', epoch: '50' }, reason: 0, revision: '50' },
        ],
      },
      now,
    ),
    '2026-11-22T04:00:00Z  RELEASED  1001    desk-3@berlin  bumped  epoch 50\n2026-11-22T03:20:00Z  SEATED    1002    desk-3@berlin  admin  epoch 50\n',
    'the changes of one revision: one line per event, in order',
  )
  const snapshot = formatSeatSnapshot({ reason: SnapshotReason.SNAPSHOT_REASON_COMPACTED, seats: [seat], revision: '60' })
  t.match(snapshot, /^# snapshot \(history compacted: view replaced\) at revision 60: 1 seat\n2026-11-22T03:20:00Z  SEATED  /)
})

t.test('users table and cluster status', async (t) => {
  const users = formatUsers([User.fromPartial({ id: 'ada', extension: '1001', displayName: 'Ada', homeSiteId: 'amsterdam', roamingAllowed: true, maxSeatHours: 8 })])
  t.match(users, /^ID\s+EXTENSION\s+NAME\s+HOME\s+ROAMING\s+MAX HOURS\s+SOURCE\s+PIN\s+LOCKED UNTIL\nada\s+1001\s+Ada\s+amsterdam\s+yes\s+8\s+manual\s+none\s+-\n$/)
  const leader = { instanceId: 'berlin-x1', siteId: 'berlin', address: '127.0.0.1:5', leader: true, health: InstanceHealth.INSTANCE_HEALTH_SERVING, startedAt: new Date('2026-11-22T03:00:00Z'), version: '0.1.0' }
  const status = formatClusterStatus(
    GetClusterStatusResponse.fromPartial({
      leader,
      leaderSince: new Date('2026-11-22T03:01:00Z'),
      instances: [leader, { ...leader, instanceId: 'amsterdam-y2', siteId: 'amsterdam', address: '127.0.0.1:6', leader: false, health: InstanceHealth.INSTANCE_HEALTH_NOT_SERVING }],
      answeredBy: 'amsterdam-y2',
      revision: '77',
    }),
  )
  t.match(status, /^leader\s+berlin-x1 \(berlin, 127\.0\.0\.1:5\)\nsince\s+2026-11-22T03:01:00Z\n/)
  t.match(status, /\nINSTANCE\s+SITE\s+ADDRESS\s+HEALTH\s+VERSION\s+STARTED\s+LEADER\namsterdam-y2\s+amsterdam\s+127\.0\.0\.1:6\s+not serving\s+0\.1\.0\s+\S+\s+-\nberlin-x1\s+berlin\s+127\.0\.0\.1:5\s+serving\s+0\.1\.0\s+\S+\s+yes\n\nbranches  none/)
  t.match(formatClusterStatus(GetClusterStatusResponse.fromPartial({ instances: [] })), /^leader\s+none \(election under way\)/)
})

// Guard tried: formatClusterStatus without its branch lines (the status stops at the instances).
t.test('cluster status ends with the branches: who holds the SIP node lease, phones online', async (t) => {
  const status = formatClusterStatus(
    GetClusterStatusResponse.fromPartial({
      instances: [],
      branches: [
        { siteId: 'berlin', nodeId: '', leaseHeld: false, grantedRevision: '0', onlinePhones: 1 },
        { siteId: 'amsterdam', nodeId: 'amsterdam-1a2b3c4d', leaseHeld: true, grantedRevision: '42', onlinePhones: 3 },
      ],
    }),
  )
  t.match(status, /\nbranch amsterdam  SIP node: held by amsterdam-1a2b3c4d, 3 phones online\nbranch berlin     no SIP node, 1 phone online\n$/, 'one line per branch, by site')
  t.equal(describeBranch({ siteId: 'oslo', nodeId: 'oslo-n', leaseHeld: true, grantedRevision: '7', onlinePhones: 0 }), 'SIP node: held by oslo-n, 0 phones online')
  t.match(formatClusterStatus(GetClusterStatusResponse.fromPartial({ instances: [] })), /\nbranches  none \(no SIP node holds a lease, no phone is registered\)\n$/)
})

// Guard tried: the EXPIRES column formatted with toISOString (milliseconds shown): the row fails.
t.test('the phones table: device, site, contact, expires; --json keeps every field', async (t) => {
  const phone = {
    deviceId: 'desk-3',
    siteId: 'berlin',
    contact: 'sip:desk-3@192.0.2.10:5060;transport=tcp',
    source: 'tcp:192.0.2.10:5060',
    userAgent: 'Yealink',
    expiresAt: new Date('2026-11-22T04:20:00.500Z'),
    registeredAt: new Date('2026-11-22T03:20:00Z'),
  }
  const lines = formatBindings([phone]).split('\n')
  t.match(lines[0], /^DEVICE\s+SITE\s+CONTACT\s+EXPIRES$/)
  t.match(lines[1], /^desk-3\s+berlin\s+sip:desk-3@192\.0\.2\.10:5060;transport=tcp\s+2026-11-22T04:20:00Z$/)
  t.equal(formatBindings([]), 'DEVICE  SITE  CONTACT  EXPIRES\n', 'an empty list is just the heading')
  t.match(JSON.parse(JSON.stringify(ListBindingsResponse.toJSON({ bindings: [phone], nextPageToken: '' }))), {
    bindings: [{ deviceId: 'desk-3', source: 'tcp:192.0.2.10:5060', userAgent: 'Yealink', expiresAt: '2026-11-22T04:20:00.500Z', registeredAt: '2026-11-22T03:20:00.000Z' }],
  })
  t.match(topUsage(COMMANDS), /^  phones\s+list the phones registered/m, 'usage lists the phones command')
})

t.test('PINs from a pipe: one per line, CR stripped, reading stops after them', async (t) => {
  const input = new PassThrough()
  input.end('1234\r\n5678\nleft over\n')
  t.same(await readPins({ input, output: new PassThrough() }, [{ label: 'old PIN' }, { label: 'new PIN', confirm: true }]), ['1234', '5678'])
  const short = new PassThrough()
  short.end('1234\n')
  await t.rejects(readPins({ input: short, output: new PassThrough() }, [{ label: 'old PIN' }, { label: 'new PIN' }]), { message: 'expected the new PIN on stdin (one PIN per line)', exitCode: 2 })
  const noNewline = new PassThrough()
  noNewline.end('4321')
  t.same(await readLines(noNewline, 1), ['4321'], 'a last line without newline counts')
})

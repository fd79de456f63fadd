// The pure planner of the directory sync: (directory entries, current users) → changes with
// reasons and conflicts, in the order to apply them.
import t from 'tap'
import { DEFAULT_ATTRIBUTES, type DirectoryEntry, planSync, renumberingOrder, type Templates } from '@flexseat/directory-sync'
import { type DirectoryChange, DirectoryChangeKind, User, UserSource } from '@flexseat/proto'

const { DIRECTORY_CHANGE_KIND_CREATE: CREATE, DIRECTORY_CHANGE_KIND_UPDATE: UPDATE, DIRECTORY_CHANGE_KIND_DISABLE: DISABLE, DIRECTORY_CHANGE_KIND_DELETE: DELETE } = DirectoryChangeKind

const templates: Templates = {
  departments: new Map([['sales', { key: 'templates.departments.sales', homeSiteId: 'berlin', roamingAllowed: true, maxSeatHours: 10, functionKeyProfile: 'sales', policy: undefined }]]),
  fallback: { key: 'templates.default', homeSiteId: 'amsterdam', roamingAllowed: false, maxSeatHours: 0, functionKeyProfile: '', policy: undefined },
}

function entry(username: string, extension: string, patch: Partial<DirectoryEntry> = {}): DirectoryEntry {
  return {
    dn: `cn=${username},ou=staff,dc=example,dc=com`,
    key: `key-${username}`,
    username,
    displayName: `Name ${username}`,
    givenName: '',
    surname: '',
    extension,
    did: '',
    mobile: '',
    email: '',
    department: 'Support',
    disabled: false,
    ...patch,
  }
}

/** The user the directory created from `e` (as planned by an earlier sync). */
function synced(e: DirectoryEntry, patch: Partial<User> = {}): User {
  return User.fromPartial({
    id: e.username.toLowerCase(),
    extension: e.extension,
    displayName: e.displayName,
    username: e.username,
    department: e.department,
    homeSiteId: 'amsterdam',
    source: UserSource.USER_SOURCE_DIRECTORY,
    directoryKey: e.key,
    ...patch,
  })
}

const plan = (entries: DirectoryEntry[], users: User[] = [], mode: 'full' | 'incremental' = 'full', maxDeletions = 0) =>
  planSync({ mode, entries, users, templates, maxDeletions, attributes: DEFAULT_ATTRIBUTES })
const kinds = (changes: DirectoryChange[]) => changes.map((c) => [c.kind, c.userId])

t.test('a new entry becomes a user: lower-case username as id, the template of its department, from the directory', async (t) => {
  const p = plan([entry('Ada.Lovelace', '1001', { department: ' SALES ', email: 'ada@example.com', did: '+31205551001', givenName: 'Ada', surname: 'Lovelace' }), entry('alan', '1002')])
  t.same(kinds(p.changes), [[CREATE, 'ada.lovelace'], [CREATE, 'alan']])
  t.match(p.changes[0]!.user, {
    id: 'ada.lovelace',
    extension: '1001',
    username: 'Ada.Lovelace',
    givenName: 'Ada',
    surname: 'Lovelace',
    email: 'ada@example.com',
    did: '+31205551001',
    homeSiteId: 'berlin',
    roamingAllowed: true,
    maxSeatHours: 10,
    functionKeyProfile: 'sales',
    source: UserSource.USER_SOURCE_DIRECTORY,
    directoryKey: 'key-Ada.Lovelace',
    disabled: false,
  }, 'department matched ignoring case and spaces')
  t.match(p.changes[1]!.user, { homeSiteId: 'amsterdam', roamingAllowed: false, functionKeyProfile: '' }, 'no template of its own: the default')
  t.same(p.changes[0]!.reasons, ['new in the directory'])
  t.same(p.conflicts, [])
})

t.test('changes of an entry update its user, with one reason per fact; a rename keeps the id', async (t) => {
  const before = entry('ada', '1001')
  const now = entry('ada.king', '1005', { key: before.key, displayName: before.displayName, department: 'Sales', email: 'ada@example.com' })
  const p = plan([now], [synced(before)])
  t.same(kinds(p.changes), [[UPDATE, 'ada']], 'matched by key: the id stays')
  t.same(p.changes[0]!.reasons, [
    'extension 1001 -> 1005',
    'username "ada" -> "ada.king"',
    'e-mail (none) -> "ada@example.com"',
    'department "Support" -> "Sales"',
    'home site "amsterdam" -> "berlin"',
    'roaming allowed',
    'max seat hours 0 -> 10',
    'function-key profile (none) -> "sales"',
  ])
  t.equal(p.changes[0]!.previousExtension, '1001')
  const same = plan([before], [synced(before)])
  t.same(same.changes, [])
  t.equal(same.unchanged, 1, 'nothing changed: nothing to do')
})

t.test('disabled entries disable their user; enabled again, an update; a disabled newcomer is not created', async (t) => {
  const ada = entry('ada', '1001')
  const p = plan([{ ...ada, disabled: true }, entry('bob', '1002', { disabled: true }), entry('carol', '1003')], [synced(ada), synced(entry('carol', '1003'), { disabled: true })])
  t.same(kinds(p.changes), [[DISABLE, 'ada'], [UPDATE, 'carol']])
  t.same(p.changes[0]!.reasons, ['disabled in the directory'])
  t.same(p.changes[1]!.reasons, ['enabled again in the directory'])
  t.equal(p.ignored, 1, 'bob: disabled and never synced')
  const noPhone = plan([{ ...ada, disabled: true, extension: '' }], [synced(ada)])
  t.same(kinds(noPhone.changes), [[DISABLE, 'ada']], 'a disabled entry that lost its ipPhone is still disabled, keeping its extension')
  t.equal(noPhone.changes[0]!.user?.extension, '1001')
})

t.test('a full sync removes users whose entry is gone; an incremental one never; users created by hand are not the planner\'s', async (t) => {
  const ada = entry('ada', '1001')
  const manual = User.fromPartial({ id: 'root', extension: '1999', source: UserSource.USER_SOURCE_MANUAL })
  const full = plan([], [synced(ada), manual])
  t.same(kinds(full.changes), [[DELETE, 'ada']])
  t.same(full.changes[0]!.reasons, ['gone from the directory'])
  t.equal(full.changes[0]!.previousExtension, '1001')
  t.same(plan([], [synced(ada), manual], 'incremental').changes, [], 'incremental: absent means unchanged')
})

t.test('more removals than max_deletions: none, each reported', async (t) => {
  const users = ['a', 'b', 'c'].map((name, i) => synced(entry(name, `100${i}`)))
  const p = plan([], users, 'full', 2)
  t.same(p.changes, [])
  t.equal(p.conflicts.length, 3)
  t.match(p.conflicts[0]!.reason, /3 users would be removed, more than schedule\.max_deletions \(2\): none removed/)
  t.same(kinds(plan([], users, 'full', 3).changes).length, 3, 'at the limit they are removed')
})

t.test('conflicts skip their entry, name why, and the rest goes on', async (t) => {
  const kept = entry('keeper', '1010')
  const p = plan(
    [
      entry('nokey', '1001', { key: '' }),
      entry('', '1002'),
      entry('nophone', ''),
      entry('twin1', '1004'),
      entry('twin2', '1004'),
      entry('dup1', '1005', { key: 'same' }),
      entry('dup2', '1006', { key: 'same' }),
      entry('Case', '1007'),
      entry('case', '1008'),
      kept,
      entry('fine', '1011'),
    ],
    [synced(kept)],
  )
  const reasons = Object.fromEntries(p.conflicts.map((c) => [c.username || c.dn, c.reason]))
  t.match(reasons, {
    nokey: /^no objectGUID/,
    'cn=,ou=staff,dc=example,dc=com': /^no sAMAccountName/,
    nophone: /^no ipPhone/,
    twin1: /^ipPhone 1004 is also that of twin2/,
    twin2: /^ipPhone 1004 is also that of twin1/,
    dup1: /^objectGUID same is also that of dup2/,
    dup2: /^objectGUID same is also that of dup1/,
    Case: /^user id case would also be that of case/,
    case: /^user id case would also be that of Case/,
  })
  t.equal(p.conflicts.length, 9)
  t.same(kinds(p.changes), [[CREATE, 'fine']], 'the others go on')
  t.equal(p.unchanged, 1)
  const noTemplate = planSync({ mode: 'full', entries: [entry('x', '1001', { department: 'Legal' })], users: [], templates: { departments: templates.departments, fallback: undefined }, maxDeletions: 0, attributes: DEFAULT_ATTRIBUTES })
  t.match(noTemplate.conflicts[0]!.reason, /no template for department "Legal"/)
})

t.test('a skipped entry still protects its user from removal', async (t) => {
  const ada = entry('ada', '1001')
  const p = plan([{ ...ada, extension: '' }], [synced(ada)])
  t.same(p.changes, [], 'no ipPhone now: skipped, and not removed either')
  t.equal(p.conflicts.length, 1)
})

t.test('a disabled leaver does not make the newcomer who got its ipPhone a duplicate', async (t) => {
  const leaver = entry('leaver', '1001')
  const p = plan([{ ...leaver, disabled: true }, entry('newcomer', '1001')], [synced(leaver)])
  t.same(kinds(p.changes), [[DISABLE, 'leaver'], [CREATE, 'newcomer']], 'the registry tells whether 1001 is still held')
})

t.test('order: removals, disables, updates (a renumbering chain in order), creations', async (t) => {
  const a = entry('a', '1001')
  const b = entry('b', '1002')
  const c = entry('c', '1003')
  const gone = entry('gone', '1009')
  // b takes a's 1001, a takes c's 1003 (c leaves it for 1004): c, then a, then b.
  const p = plan([entry('new', '1005'), { ...b, extension: '1001' }, { ...a, extension: '1003' }, { ...c, extension: '1004' }, entry('off', '1006', { disabled: true })], [synced(a), synced(b), synced(c), synced(gone), synced(entry('off', '1006'))])
  t.same(kinds(p.changes), [[DELETE, 'gone'], [DISABLE, 'off'], [UPDATE, 'c'], [UPDATE, 'a'], [UPDATE, 'b'], [CREATE, 'new']])
})

t.test('renumberingOrder: chains in order; a swap cannot be ordered (the registry reports both)', async (t) => {
  const change = (userId: string, from: string, to: string): DirectoryChange =>
    ({ kind: UPDATE, userId, directoryKey: userId, user: User.fromPartial({ extension: to }), reasons: [], previousExtension: from }) as DirectoryChange
  const swap = [change('x', '1', '2'), change('y', '2', '1')]
  t.same(renumberingOrder(swap).map((c) => c.userId).sort(), ['x', 'y'], 'both kept, once each')
  const chain = [change('p', '1', '2'), change('q', '2', '3'), change('r', '3', '4')]
  t.same(renumberingOrder(chain).map((c) => c.userId), ['r', 'q', 'p'])
})

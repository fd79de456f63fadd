// The directory sync's LDAP side against a real slapd (test/helpers/ldap.ts): paged full reads
// past the server's size limit, the attribute map on real entries (objectGUID, userAccountControl,
// phone numbers), incremental reads by modifyTimestamp and by uSNChanged (Active Directory's
// highestCommittedUSN in the rootDSE), the service account's bind, LDAPS and
// StartTLS with the configured CA, and the password check the web portal will use.
import t from 'tap'
import { pino } from 'pino'
import { Client, SizeLimitExceededError } from 'ldapts'
import { DirectorySyncError, LdapDirectory, loadDirectorySyncConfig } from '@flexseat/directory-sync'
import { type Person, SERVICE_DN, Slapd, STAFF_DN } from '../helpers/ldap'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

t.setTimeout(60_000)

const logger = pino({ level: 'silent' })
const signal = new AbortController().signal

function people(count: number, first = 2000): Person[] {
  return Array.from({ length: count }, (_, i) => ({ username: `w${first + i}`, ipPhone: String(first + i), department: 'Support' }))
}

t.test('a full read pages past the size limit; the attribute map reads real entries', async (t) => {
  const slapd = await Slapd.start({
    people: [
      ...people(620),
      {
        username: 'Ada.Lovelace',
        ipPhone: '10 01',
        givenName: 'Ada',
        sn: 'Lovelace',
        telephoneNumber: '+31 (20) 555-1001',
        mobile: '+31 6 1234 5678',
        mail: 'ada@example.com',
        department: 'Sales',
      },
      { username: 'grace', ipPhone: '1003', givenName: 'Grace', sn: 'Hopper', disabled: true },
    ],
  })
  t.teardown(() => slapd.stop())
  // Guard: the server's limit is real, so the read below gets everything only by paging.
  const plain = new Client({ url: slapd.url })
  await plain.bind(SERVICE_DN, (await readFile(slapd.passwordFile, 'utf8')).trim())
  await t.rejects(plain.search(STAFF_DN, { filter: '(objectClass=inetOrgPerson)' }), SizeLimitExceededError, 'a search without paging stops at 500 entries')
  await plain.unbind()

  const config = await loadDirectorySyncConfig(await slapd.writeSyncConfig({ ldap: 'page_size: 200' }))
  const read = await new LdapDirectory(config, logger).read('full', undefined, signal)
  t.equal(read.entries.length, 622, 'every entry, in pages of 200')
  t.match(read.mark, /^\d{14}Z$/, 'the next incremental read starts at a generalized time')
  const ada = read.entries.find((e) => e.username === 'Ada.Lovelace')
  t.same(ada, {
    dn: `cn=Ada.Lovelace,${STAFF_DN}`,
    key: slapd.keyOf('Ada.Lovelace'),
    username: 'Ada.Lovelace',
    displayName: 'Ada Lovelace',
    givenName: 'Ada',
    surname: 'Lovelace',
    extension: '1001',
    did: '+31205551001',
    mobile: '+31612345678',
    email: 'ada@example.com',
    department: 'Sales',
    disabled: false,
  }, 'objectGUID in its text form; no displayName: given name and surname; numbers without spaces and punctuation')
  t.match(ada?.key, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
  t.equal(read.entries.find((e) => e.username === 'grace')?.disabled, true, 'userAccountControl 514 is disabled')
  t.equal(read.entries.find((e) => e.username === 'w2000')?.disabled, false, '512 is not')
})

t.test('an incremental read returns what changed since the mark, no more', async (t) => {
  const slapd = await Slapd.start({ people: people(30) })
  t.teardown(() => slapd.stop())
  const config = await loadDirectorySyncConfig(await slapd.writeSyncConfig({ ldap: 'clock_skew: 0s' }))
  const directory = new LdapDirectory(config, logger)
  const full = await directory.read('full', undefined, signal)
  t.equal(full.entries.length, 30)
  await slapd.modify('w2005', { ipPhone: '2105' })
  await slapd.setDisabled('w2006', true)
  await slapd.add({ username: 'newcomer', ipPhone: '2999' })
  const since = await directory.read('incremental', full.mark, signal)
  t.same(since.entries.map((e) => e.username).sort(), ['newcomer', 'w2005', 'w2006'], 'the changed and the new entries only')
  t.equal(since.entries.find((e) => e.username === 'w2005')?.extension, '2105')
  t.equal(since.entries.find((e) => e.username === 'w2006')?.disabled, true)
  await slapd.remove('w2007')
  const after = await directory.read('incremental', since.mark, signal)
  t.notOk(after.entries.some((e) => e.username === 'w2007'), 'a deletion is invisible to an incremental read (full syncs find it)')
})

// Active Directory's way (ldap.incremental: usn), on a slapd that answers highestCommittedUSN in
// its rootDSE and whose entries carry uSNChanged (test/helpers/ldap.ts). Guards tried: the
// uSNChanged clause left out of the incremental filter (every entry comes back); `>= mark`
// instead of `>= mark + 1` (the entry changed at the mark, read already, comes back).
t.test('Active Directory: an incremental read asks for uSNChanged above the last read\'s highestCommittedUSN', async (t) => {
  const slapd = await Slapd.start({
    people: [
      { username: 'before', ipPhone: '2001', usnChanged: 150 },
      { username: 'at', ipPhone: '2002', usnChanged: 200 },
      { username: 'after', ipPhone: '2003', usnChanged: 201 },
    ],
    highestCommittedUsn: 200,
  })
  t.teardown(() => slapd.stop())
  const directory = new LdapDirectory(await loadDirectorySyncConfig(await slapd.writeSyncConfig({ ldap: 'incremental: usn' })), logger)
  const full = await directory.read('full', undefined, signal)
  t.equal(full.entries.length, 3, 'a full read: every entry')
  t.equal(full.mark, '200', 'its mark: the rootDSE\'s highestCommittedUSN, read before the search')
  const since = await directory.read('incremental', full.mark, signal)
  t.same(since.entries.map((e) => e.username), ['after'], 'an incremental read: only what changed after the mark')
  await slapd.modify('before', { ipPhone: '2101', uSNChanged: '230' })
  const again = await directory.read('incremental', full.mark, signal)
  t.same(again.entries.map((e) => e.username).sort(), ['after', 'before'], 'an entry changed since (a higher uSNChanged) is read again')
  t.equal(again.entries.find((e) => e.username === 'before')?.extension, '2101')

  const plain = await Slapd.start({ people: people(1) })
  t.teardown(() => plain.stop())
  const error = await new LdapDirectory(await loadDirectorySyncConfig(await plain.writeSyncConfig({ ldap: 'incremental: usn' })), logger).read('full', undefined, signal).catch((e: unknown) => e)
  t.ok(error instanceof DirectorySyncError && error.code === 'SEARCH', 'a server without highestCommittedUSN (not Active Directory): a SEARCH error')
  t.match((error as Error).message, /set ldap\.incremental to timestamp/, 'saying what to configure instead')
})

t.test('the service account, the CA, LDAPS and StartTLS', async (t) => {
  const slapd = await Slapd.start({ people: people(3), tls: true })
  t.teardown(() => slapd.stop())
  const ldaps = await loadDirectorySyncConfig(await slapd.writeSyncConfig({ url: slapd.ldapsUrl!, ldap: `ca_file: ${slapd.caFile}` }))
  t.equal((await new LdapDirectory(ldaps, logger).read('full', undefined, signal)).entries.length, 3, 'LDAPS with the configured CA')
  const startTls = await loadDirectorySyncConfig(await slapd.writeSyncConfig({ ldap: `start_tls: true\nca_file: ${slapd.caFile}` }))
  t.equal((await new LdapDirectory(startTls, logger).read('full', undefined, signal)).entries.length, 3, 'StartTLS with the configured CA')

  const untrusted = await loadDirectorySyncConfig(await slapd.writeSyncConfig({ url: slapd.ldapsUrl! }))
  const error = await new LdapDirectory(untrusted, logger).read('full', undefined, signal).catch((e: unknown) => e)
  t.ok(error instanceof DirectorySyncError && error.code === 'CONNECT', 'without the CA the server\'s certificate is refused')

  const wrongPasswordFile = join(slapd.dir, 'wrong-password')
  await writeFile(wrongPasswordFile, 'not-the-password\n')
  const wrong = await loadDirectorySyncConfig(await slapd.writeSyncConfig({ passwordFile: wrongPasswordFile }))
  const refused = await new LdapDirectory(wrong, logger).read('full', undefined, signal).catch((e: unknown) => e)
  t.ok(refused instanceof DirectorySyncError && refused.code === 'BIND', 'a wrong service password is a BIND error naming the keys')
  t.match((refused as Error).message, /ldap\.bind_dn, ldap\.bind_password_file/)
  t.notMatch((refused as Error).message, /not-the-password/, 'never the password')
})

t.test('verifyPassword: the portal\'s check of a worker\'s directory password', async (t) => {
  const slapd = await Slapd.start({ people: [...people(3), { username: 'ada', ipPhone: '1001', password: 'correct horse' }, { username: 'gone', ipPhone: '1002', disabled: true }] })
  t.teardown(() => slapd.stop())
  const directory = new LdapDirectory(await loadDirectorySyncConfig(await slapd.writeSyncConfig()), logger)
  const ok = await directory.verifyPassword('ada', 'correct horse')
  t.equal(ok.verified, true)
  t.equal(ok.verified && ok.entry.key, slapd.keyOf('ada'), 'the entry is returned (its key finds the flexseat user)')
  t.same(await directory.verifyPassword('ADA', 'correct horse'), ok, 'usernames match as the directory matches them (case-insensitively)')
  t.same(await directory.verifyPassword('ada', 'wrong'), { verified: false, reason: 'wrong' })
  t.same(await directory.verifyPassword('ada', ''), { verified: false, reason: 'empty' }, 'an empty password is refused before anything is sent (it would be an anonymous bind)')
  t.same(await directory.verifyPassword('nobody', 'x'), { verified: false, reason: 'unknown' })
  t.same(await directory.verifyPassword('gone', 'gone-pw-123'), { verified: false, reason: 'disabled' }, 'a disabled account is refused even with its password')
  t.same(await directory.verifyPassword('*', 'correct horse'), { verified: false, reason: 'unknown' }, 'the username is escaped: "*" matches nobody')
  t.same(await directory.verifyPassword('a*', 'correct horse'), { verified: false, reason: 'unknown' })
})

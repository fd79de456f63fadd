// What an administrator reads of the directory sync: the registry's FLEXSEAT_DIRECTORY_SYNC_FILE
// (checked at start against the sites folder), the CLI's run, changes, conflicts and status, and
// a user the directory created.
import t from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatChanges, formatRun, formatSyncStatus, formatUser, formatUsers } from '@flexseat/cli'
import { loadRegistryConfig } from '@flexseat/registry'
import {
  DirectoryChange,
  DirectoryChangeKind,
  DirectorySyncMode,
  DirectorySyncRun,
  DirectorySyncState,
  GetDirectorySyncStatusResponse,
  User,
  UserSource,
} from '@flexseat/proto'
import { REPO_ROOT } from '../helpers/registry-cluster'

t.test('the registry loads FLEXSEAT_DIRECTORY_SYNC_FILE at start; a template naming no site of the folder is refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-dirsync-config-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'password'), 'secret\n')
  const file = (site: string) => `ldap:\n  url: ldaps://dc.example.com\n  bind_dn: cn=sync\n  bind_password_file: password\n  base_dn: dc=example,dc=com\ntemplates:\n  default: { home_site: ${site} }\n`
  await writeFile(join(dir, 'good.yaml'), file('chicago'))
  await writeFile(join(dir, 'bad.yaml'), file('paris'))
  const load = (env: Record<string, string>) => loadRegistryConfig(['--site', 'amsterdam', '--sites-dir', join(REPO_ROOT, 'sites')], env, dir)
  t.equal((await load({})).directorySync, undefined, 'off unless configured')
  t.match((await load({ FLEXSEAT_DIRECTORY_SYNC_FILE: 'good.yaml' })).directorySync, { ldap: { url: 'ldaps://dc.example.com' }, templates: { fallback: { homeSiteId: 'chicago' } } })
  await t.rejects(load({ FLEXSEAT_DIRECTORY_SYNC_FILE: 'bad.yaml' }), { message: /bad\.yaml: templates\.default\.home_site: no site "paris" \(sites: amsterdam, berlin, chicago\)/ })
  await t.rejects(load({ FLEXSEAT_DIRECTORY_SYNC_FILE: 'missing.yaml' }), { message: /missing\.yaml: \(file\): cannot read it \(ENOENT\)/ })
})

const run = DirectorySyncRun.fromPartial({
  runId: 'r-1',
  instanceId: 'berlin-1a2b3c4d',
  mode: DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL,
  state: DirectorySyncState.DIRECTORY_SYNC_STATE_SUCCEEDED,
  startedAt: new Date('2026-11-22T03:20:00Z'),
  finishedAt: new Date('2026-11-22T03:20:04Z'),
  entries: 12,
  created: 3,
  updated: 1,
  disabled: 1,
  deleted: 1,
  unchanged: 5,
  seatsReleased: 2,
  conflictCount: 3,
  conflicts: [
    { directoryKey: 'k1', dn: 'cn=twin1,ou=staff', username: 'twin1', extension: '1005', userId: 'twin1', reason: 'ipPhone 1005 is also that of twin2' },
    { directoryKey: 'k2', dn: 'cn=twin2,ou=staff', username: 'twin2', extension: '1005', userId: 'twin2', reason: 'ipPhone 1005 is also that of twin1' },
  ],
})

t.test('a run: what it was, its counts, its conflicts (and how many are not listed)', async (t) => {
  t.equal(
    formatRun(run),
    [
      'run             full sync, succeeded, 2026-11-22T03:20:00Z to 2026-11-22T03:20:04Z, by berlin-1a2b3c4d (run r-1)',
      'entries read    12',
      'created         3',
      'updated         1',
      'disabled        1',
      'deleted         1',
      'unchanged       5',
      'seats released  2',
      'conflicts       3',
      '',
      'CONFLICT: USERNAME  EXTENSION  USER   REASON',
      'twin1               1005       twin1  ipPhone 1005 is also that of twin2',
      'twin2               1005       twin2  ipPhone 1005 is also that of twin1',
      '(1 more conflicts not listed)',
      '',
    ].join('\n'),
  )
  t.match(formatRun({ ...run, state: DirectorySyncState.DIRECTORY_SYNC_STATE_FAILED, error: 'the directory refused the bind', conflicts: [], conflictCount: 0 }), /, failed, .*\n[\s\S]*\nerror +the directory refused the bind\n$/)
})

t.test('changes: one line each, with the reasons', async (t) => {
  const changes = [
    DirectoryChange.fromPartial({ kind: DirectoryChangeKind.DIRECTORY_CHANGE_KIND_CREATE, userId: 'ada', user: User.fromPartial({ extension: '1001' }), reasons: ['new in the directory'] }),
    DirectoryChange.fromPartial({ kind: DirectoryChangeKind.DIRECTORY_CHANGE_KIND_UPDATE, userId: 'alan', user: User.fromPartial({ extension: '1012' }), reasons: ['extension 1002 -> 1012', 'department "A" -> "B"'], previousExtension: '1002' }),
    DirectoryChange.fromPartial({ kind: DirectoryChangeKind.DIRECTORY_CHANGE_KIND_DELETE, userId: 'grace', reasons: ['gone from the directory'], previousExtension: '1003' }),
  ]
  t.equal(
    formatChanges(changes),
    [
      'CHANGE  USER   EXTENSION  REASONS',
      'create  ada    1001       new in the directory',
      'update  alan   1012       extension 1002 -> 1012; department "A" -> "B"',
      'delete  grace  1003       gone from the directory',
      '',
    ].join('\n'),
  )
  t.equal(formatChanges([]), 'no changes\n')
})

t.test('the status: under way, last, last full (once when the same run)', async (t) => {
  t.match(formatSyncStatus(GetDirectorySyncStatusResponse.fromPartial({})), /^no directory sync has run/)
  const incremental = { ...run, runId: 'r-2', mode: DirectorySyncMode.DIRECTORY_SYNC_MODE_INCREMENTAL, conflicts: [], conflictCount: 0 }
  const status = formatSyncStatus(GetDirectorySyncStatusResponse.fromPartial({ current: { ...run, runId: 'r-3', state: DirectorySyncState.DIRECTORY_SYNC_STATE_RUNNING, finishedAt: undefined }, last: incremental, lastFull: run, configured: true }))
  t.match(status, /^under way  full sync, running, since 2026-11-22T03:20:00Z, by berlin-1a2b3c4d \(run r-3\)\n\nlast run\nrun +incremental sync, succeeded/)
  t.match(status, /\n\nlast full sync\nrun +full sync, succeeded, .*\(run r-1\)\n/)
  t.notMatch(formatSyncStatus(GetDirectorySyncStatusResponse.fromPartial({ last: run, lastFull: run })), /last full sync/)
})

t.test('a user the directory created: where it comes from, its PIN, its profile', async (t) => {
  const user = User.fromPartial({
    id: 'ada',
    extension: '1001',
    displayName: 'Ada Lovelace',
    givenName: 'Ada',
    surname: 'Lovelace',
    username: 'Ada',
    source: UserSource.USER_SOURCE_DIRECTORY,
    directoryKey: '0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6',
    disabled: true,
    functionKeyProfile: 'sales',
    hasPin: false,
    homeSiteId: 'berlin',
  })
  const text = formatUser(user)
  t.match(text, /\ngiven name +Ada\nsurname +Lovelace\nusername +Ada\nsource +directory, disabled\ndirectory key +0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6\nPIN +not set \(an administrator sets one: user reset-pin\)\n/)
  t.match(text, /\nfunction keys +sales\n/)
  const manual = formatUser(User.fromPartial({ id: 'root', extension: '1999', hasPin: true }))
  t.match(manual, /\nsource +manual\nPIN +set\n/)
  t.notMatch(manual, /directory key|given name|function keys/, 'empty fields are not shown')
  t.match(formatUsers([user]), /\nada +1001 +Ada Lovelace +berlin +no +- +directory, disabled +none +-\n$/)
})

/**
 * A real OpenLDAP server (Debian's slapd) for tests and benchmarks, started on ephemeral ports of
 * 127.0.0.1 from LDIF (see /work/shared/TESTBED.md):
 *
 * - cn=config with core, cosine and inetorgperson, plus `test/fixtures/ldap/flexseat-ad.ldif`,
 *   a schema of our own with the Active Directory attributes the sync reads (ipPhone,
 *   sAMAccountName, userAccountControl, department, objectGUID: their AD OIDs) in an auxiliary
 *   class;
 * - one mdb database `dc=example,dc=com` with `ou=staff` (the workers) and `ou=services`, holding
 *   the service account the sync binds as (`cn=flexseat-sync`: not the root DN, which would pass
 *   every limit and ACL). ACLs: users' passwords are for binding only; the service account reads
 *   everything else; nobody else reads anything.
 * - no fsync per write (olcDbNoSync: a test server's data need not survive a crash);
 * - olcSizeLimit `size.soft=500 size.hard=500 size.prtotal=unlimited`: a search without the paged
 *   results control gets at most 500 entries (as Active Directory answers at most 1,000), paged
 *   searches get all.
 * - optionally TLS: a CA and a server certificate for 127.0.0.1 made by openssl, on an ldaps://
 *   port besides the ldap:// one (which then also offers StartTLS).
 * - optionally Active Directory's change numbers: entries with `uSNChanged`, and a fixed
 *   `highestCommittedUSN` in the rootDSE (a rootDSE file set on the running server through
 *   cn=config's own root, `cn=admin,cn=config`: slapadd reads cn=config's entry before the schema).
 *
 * Changes during a test go through the root DN (`modify`, `add`, `remove`), as an administrator's
 * tool would. slapd runs in the foreground (`-d 0`), tethered to the test process; {@link stop}
 * ends it and removes its directory.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Attribute, Change, Client } from 'ldapts'
import { freePorts, TetheredProcess } from '@flexseat/sim'
import { REPO_ROOT } from './registry-cluster'

const exec = promisify(execFile)

export const SLAPD = '/usr/sbin/slapd'
export const SLAPADD = '/usr/sbin/slapadd'
export const SCHEMA_LDIF = join(REPO_ROOT, 'test', 'fixtures', 'ldap', 'flexseat-ad.ldif')
export const BASE_DN = 'dc=example,dc=com'
export const STAFF_DN = `ou=staff,${BASE_DN}`
export const SERVICE_DN = `cn=flexseat-sync,ou=services,${BASE_DN}`
const ROOT_DN = `cn=admin,${BASE_DN}`
/** cn=config's own root (the same password as the data's root): changes the running server's configuration. */
const CONFIG_ADMIN_DN = 'cn=admin,cn=config'

/** A worker's entry, in Active Directory's terms. */
export interface Person {
  /** sAMAccountName; also the entry's cn. */
  username: string
  /** ipPhone (omitted when undefined). */
  ipPhone?: string
  givenName?: string
  sn?: string
  displayName?: string
  telephoneNumber?: string
  mobile?: string
  mail?: string
  department?: string
  /** userAccountControl's ACCOUNTDISABLE bit (default false: 512, a normal account). */
  disabled?: boolean
  /** The directory password (default `<username>-pw-123`). */
  password?: string
  /** 16 bytes; default random. */
  objectGUID?: Buffer
  /** uSNChanged, as Active Directory numbers changes (omitted when undefined). */
  usnChanged?: number
}

/** Options of {@link Slapd.start}. */
export interface SlapdOptions {
  /** Entries loaded with slapadd before the server starts. */
  people?: readonly Person[]
  /** Also serve ldaps:// and StartTLS, with a CA made for the test. */
  tls?: boolean
  /**
   * Answer `highestCommittedUSN` in the rootDSE, as Active Directory does (a fixed value: slapd's
   * rootDSE file, olcRootDSE). Without it the rootDSE has none, as OpenLDAP's has not.
   */
  highestCommittedUsn?: number
}

/** A running slapd (see the file comment). */
export class Slapd {
  readonly dir: string
  /** ldap://127.0.0.1:PORT */
  readonly url: string
  /** ldaps://127.0.0.1:PORT (with `tls`). */
  readonly ldapsUrl: string | undefined
  /** The CA certificate file (with `tls`). */
  readonly caFile: string | undefined
  /** A file holding the service account's password (for `ldap.bind_password_file`). */
  readonly passwordFile: string
  readonly guids = new Map<string, Buffer>()
  readonly #rootPassword: string
  readonly #process: TetheredProcess
  /** slapd's output (its last 200 lines). */
  readonly #output: string[] = []
  #stopped = false

  private constructor(init: { dir: string; url: string; ldapsUrl?: string; caFile?: string; passwordFile: string; rootPassword: string; process: TetheredProcess }) {
    this.dir = init.dir
    this.url = init.url
    this.ldapsUrl = init.ldapsUrl
    this.caFile = init.caFile
    this.passwordFile = init.passwordFile
    this.#rootPassword = init.rootPassword
    this.#process = init.process
    for (const stream of [init.process.stdout, init.process.stderr]) {
      stream.setEncoding('utf8')
      stream.on('data', (chunk: string) => {
        this.#output.push(...chunk.split('\n').filter((line) => line !== ''))
        if (this.#output.length > 200) this.#output.splice(0, this.#output.length - 200)
      })
    }
  }

  /** Builds the configuration and the data with slapadd, starts slapd and waits until it answers a bind. */
  static async start(options: SlapdOptions = {}): Promise<Slapd> {
    const dir = await mkdtemp(join(tmpdir(), 'flexseat-slapd-'))
    try {
      await mkdir(join(dir, 'db'))
      await mkdir(join(dir, 'slapd.d'))
      const rootPassword = randomBytes(12).toString('hex')
      const servicePassword = randomBytes(12).toString('hex')
      const passwordFile = join(dir, 'bind-password')
      await writeFile(passwordFile, `${servicePassword}\n`, { mode: 0o600 })
      const [port, tlsPort] = await freePorts(2)
      let tls: { ca: string; cert: string; key: string } | undefined
      if (options.tls === true) tls = await makeCertificates(dir)
      await writeFile(join(dir, 'config.ldif'), configLdif(dir, rootPassword, tls))
      await exec(SLAPADD, ['-n0', '-F', join(dir, 'slapd.d'), '-l', join(dir, 'config.ldif')])
      const guids = new Map<string, Buffer>()
      const data = [baseLdif(servicePassword), ...(options.people ?? []).map((person) => personLdif(person, guids))].join('\n')
      await writeFile(join(dir, 'data.ldif'), data)
      await exec(SLAPADD, ['-q', '-n1', '-F', join(dir, 'slapd.d'), '-l', join(dir, 'data.ldif')])
      const url = `ldap://127.0.0.1:${port}`
      const ldapsUrl = tls === undefined ? undefined : `ldaps://127.0.0.1:${tlsPort}`
      const listen = [`${url}/`, ...(ldapsUrl === undefined ? [] : [`${ldapsUrl}/`])].join(' ')
      const child = await TetheredProcess.spawn(SLAPD, ['-d', '0', '-F', join(dir, 'slapd.d'), '-h', listen], { cwd: dir, env: process.env })
      const slapd = new Slapd({ dir, url, ...(ldapsUrl === undefined ? {} : { ldapsUrl, caFile: tls!.ca }), passwordFile, rootPassword, process: child })
      for (const [name, guid] of guids) slapd.guids.set(name, guid)
      await slapd.#untilAnswering()
      if (options.highestCommittedUsn !== undefined) {
        // The rootDSE file names an attribute of our schema, which cn=config's own entry is read
        // before (slapadd refuses it there): set on the running server, as its config admin.
        const rootDse = join(dir, 'rootdse.ldif')
        await writeFile(rootDse, `dn:\nhighestCommittedUSN: ${options.highestCommittedUsn}\n`)
        const client = new Client({ url, timeout: 5_000, connectTimeout: 2_000 })
        try {
          await client.bind(CONFIG_ADMIN_DN, rootPassword)
          await client.modify('cn=config', [new Change({ operation: 'add', modification: new Attribute({ type: 'olcRootDSE', values: [rootDse] }) })])
        } catch (error) {
          await slapd.stop()
          throw error
        } finally {
          await client.unbind().catch(() => undefined)
        }
      }
      return slapd
    } catch (error) {
      await rm(dir, { recursive: true, force: true })
      throw error
    }
  }

  async #untilAnswering(): Promise<void> {
    const deadline = Date.now() + 15_000
    let last: unknown
    while (Date.now() < deadline) {
      if (!this.#process.running) throw new Error(`slapd exited while starting: ${JSON.stringify(await this.#process.exited)} ${this.#output.join('\n')}`)
      try {
        await this.#asRoot(async () => undefined)
        return
      } catch (error) {
        last = error
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
    throw new Error(`slapd did not answer a bind within 15 s: ${(last as Error)?.message}`)
  }

  async #asRoot<T>(work: (client: Client) => Promise<T>): Promise<T> {
    const client = new Client({ url: this.url, timeout: 5_000, connectTimeout: 2_000 })
    try {
      await client.bind(ROOT_DN, this.#rootPassword)
      return await work(client)
    } finally {
      await client.unbind().catch(() => undefined)
    }
  }

  /** The DN of a worker's entry. */
  dnOf(username: string): string {
    return `cn=${username},${STAFF_DN}`
  }

  /**
   * Adds a group (`groupOfNames`, under ou=services: outside the sync's base) whose `member`s are
   * the entries of `usernames`; returns its DN (what `portal.admin_group` names).
   */
  async addGroup(cn: string, usernames: readonly string[]): Promise<string> {
    const dn = `cn=${cn},ou=services,${BASE_DN}`
    await this.#asRoot((client) => client.add(dn, { objectClass: 'groupOfNames', cn, member: usernames.map((username) => this.dnOf(username)) }))
    return dn
  }

  /** Adds a worker's entry. */
  async add(person: Person): Promise<void> {
    const guid = person.objectGUID ?? randomBytes(16)
    this.guids.set(person.username, guid)
    await this.#asRoot((client) => client.add(this.dnOf(person.username), entryAttributes({ ...person, objectGUID: guid })))
  }

  /** Adds many entries over one connection, `concurrency` requests at a time. */
  async addMany(persons: readonly Person[], concurrency = 16): Promise<void> {
    await this.#asRoot(async (client) => {
      let next = 0
      const lane = async (): Promise<void> => {
        while (next < persons.length) {
          const person = persons[next++]!
          const guid = person.objectGUID ?? randomBytes(16)
          this.guids.set(person.username, guid)
          await client.add(this.dnOf(person.username), entryAttributes({ ...person, objectGUID: guid }))
        }
      }
      await Promise.all(Array.from({ length: concurrency }, lane))
    })
  }

  /** Replaces attributes of a worker's entry (an empty list deletes the attribute). */
  async modify(username: string, changes: Record<string, string | string[]>): Promise<void> {
    await this.#asRoot((client) =>
      client.modify(
        this.dnOf(username),
        Object.entries(changes).map(([type, value]) => new Change({ operation: 'replace', modification: new Attribute({ type, values: Array.isArray(value) ? value : [value] }) })),
      ),
    )
  }

  /** Sets or clears ACCOUNTDISABLE in userAccountControl. */
  async setDisabled(username: string, disabled: boolean): Promise<void> {
    await this.modify(username, { userAccountControl: disabled ? '514' : '512' })
  }

  /** Deletes a worker's entry. */
  async remove(username: string): Promise<void> {
    await this.#asRoot((client) => client.del(this.dnOf(username)))
  }

  /** The key (objectGUID) of a worker's entry as the sync shows it. */
  keyOf(username: string): string {
    const guid = this.guids.get(username)
    if (guid === undefined) throw new Error(`no entry ${username}`)
    const hex = (start: number, end: number, reverse: boolean): string => {
      const part = Buffer.from(guid.subarray(start, end))
      return (reverse ? part.reverse() : part).toString('hex')
    }
    return `${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10, false)}-${hex(10, 16, false)}`
  }

  /**
   * Writes a directory sync configuration for this server (YAML) and returns its path. `extra`
   * is YAML appended at the top level (schedule, templates...); the default templates put every
   * department at amsterdam, `Sales` at berlin with roaming.
   */
  async writeSyncConfig(options: { extra?: string; ldap?: string; templates?: string; url?: string; passwordFile?: string } = {}): Promise<string> {
    const path = join(this.dir, `directory-sync-${randomBytes(4).toString('hex')}.yaml`)
    const given = (options.ldap ?? '').split('\n').filter((line) => line.trim() !== '')
    const defaults = [
      `url: ${options.url ?? this.url}`,
      `bind_dn: ${SERVICE_DN}`,
      `bind_password_file: ${options.passwordFile ?? this.passwordFile}`,
      `base_dn: ${STAFF_DN}`,
      'filter: (objectClass=inetOrgPerson)',
      'incremental: timestamp',
      'clock_skew: 2s',
    ].filter((line) => !given.some((other) => other.split(':')[0] === line.split(':')[0]))
    const text = [
      'ldap:',
      ...[...defaults, ...given].map((line) => `  ${line}`),
      options.templates ??
        [
          'templates:',
          '  default: { home_site: amsterdam, roaming: false, max_seat_hours: 0, function_key_profile: standard }',
          '  departments:',
          '    Sales: { home_site: berlin, roaming: true, max_seat_hours: 10, function_key_profile: sales }',
        ].join('\n'),
      options.extra ?? '',
      '',
    ].join('\n')
    await writeFile(path, text)
    return path
  }

  /** Stops slapd and removes its directory. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    await this.#process.stop(2_000).catch(() => undefined)
    await rm(this.dir, { recursive: true, force: true, maxRetries: 3 })
  }
}

function configLdif(dir: string, rootPassword: string, tls: { ca: string; cert: string; key: string } | undefined): string {
  return `dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: ${join(dir, 'slapd.pid')}
${tls === undefined ? '' : `olcTLSCACertificateFile: ${tls.ca}\nolcTLSCertificateFile: ${tls.cert}\nolcTLSCertificateKeyFile: ${tls.key}\n`}
dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

include: file://${SCHEMA_LDIF}

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcRootDN: ${CONFIG_ADMIN_DN}
olcRootPW: ${rootPassword}
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: ${BASE_DN}
olcDbDirectory: ${join(dir, 'db')}
olcRootDN: ${ROOT_DN}
olcRootPW: ${rootPassword}
olcDbMaxSize: 1073741824
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: sAMAccountName eq
olcSizeLimit: size.soft=500 size.hard=500 size.prtotal=unlimited
olcAccess: {0}to attrs=userPassword by anonymous auth by * none
olcAccess: {1}to * by dn.exact="${SERVICE_DN}" read by * none
`
}

function baseLdif(servicePassword: string): string {
  return `dn: ${BASE_DN}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=staff,${BASE_DN}
objectClass: organizationalUnit
ou: staff

dn: ou=services,${BASE_DN}
objectClass: organizationalUnit
ou: services

dn: ${SERVICE_DN}
objectClass: person
cn: flexseat-sync
sn: sync
userPassword: ${servicePassword}
`
}

function entryAttributes(person: Person & { objectGUID: Buffer }): Attribute[] {
  const values: Array<[string, string | Buffer | undefined]> = [
    ['objectClass', 'inetOrgPerson'],
    ['objectClass', 'flexseatTestAdUser'],
    ['cn', person.username],
    ['sn', person.sn ?? person.username],
    ['givenName', person.givenName],
    ['displayName', person.displayName],
    ['sAMAccountName', person.username],
    ['ipPhone', person.ipPhone],
    ['telephoneNumber', person.telephoneNumber],
    ['mobile', person.mobile],
    ['mail', person.mail],
    ['department', person.department],
    ['userAccountControl', person.disabled === true ? '514' : '512'],
    ['userPassword', person.password ?? `${person.username}-pw-123`],
    ['objectGUID', person.objectGUID],
    ['uSNChanged', person.usnChanged === undefined ? undefined : String(person.usnChanged)],
  ]
  const byType = new Map<string, Array<string | Buffer>>()
  for (const [type, value] of values) {
    if (value === undefined) continue
    byType.set(type, [...(byType.get(type) ?? []), value])
  }
  return [...byType].map(([type, list]) => new Attribute({ type, values: list as string[] | Buffer[] }))
}

function personLdif(person: Person, guids: Map<string, Buffer>): string {
  const guid = person.objectGUID ?? randomBytes(16)
  guids.set(person.username, guid)
  const lines = entryAttributes({ ...person, objectGUID: guid }).flatMap((attribute) =>
    (attribute.values as Array<string | Buffer>).map((value) => (Buffer.isBuffer(value) ? `${attribute.type}:: ${value.toString('base64')}` : `${attribute.type}: ${value}`)),
  )
  // Loaded entries look unchanged for years: an incremental read (modifyTimestamp >= its mark)
  // returns only what a test changes after the server started.
  return `dn: cn=${person.username},${STAFF_DN}\n${lines.join('\n')}\ncreateTimestamp: 20200101000000Z\nmodifyTimestamp: 20200101000000Z\n`
}

async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const openssl = (...args: string[]): Promise<unknown> => exec('openssl', args, { cwd: dir })
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=flexseat test LDAP CA', '-keyout', 'ca.key', '-out', 'ca.pem')
  await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n')
  await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr')
  await openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'server.ext', '-out', 'server.pem')
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') }
}

import { AndFilter, Client, EqualityFilter, type Filter, FilterParser, InvalidCredentialsError, NoSuchObjectError, OrFilter } from 'ldapts'
import type { Logger } from 'pino'
import { type DirectoryEntry, type LdapEntry, requestedAttributes, toDirectoryEntry } from './attribute-map'
import type { DirectorySyncConfig } from './config'
import { DirectorySyncError } from './errors'

/** What one read of the directory gave. */
export interface DirectoryRead {
  entries: DirectoryEntry[]
  /**
   * Where the next incremental read starts (the rootDSE's highestCommittedUSN before this read,
   * or this read's start less the clock skew as an LDAP generalized time); undefined when the
   * configuration has no incremental method.
   */
  mark: string | undefined
}

/** What the sync reads entries from ({@link LdapDirectory}; tests may give another). */
export interface DirectoryReader {
  /** Every entry of the search (`full`), or those changed since `since` (a mark of an earlier read). */
  read(mode: 'full' | 'incremental', since: string | undefined, signal: AbortSignal): Promise<DirectoryRead>
}

/** The outcome of {@link LdapDirectory.verifyPassword}. */
export type PasswordCheck =
  | { verified: true; entry: DirectoryEntry }
  | {
      verified: false
      /**
       * `empty`: no username or no password given (an empty password would be an anonymous bind,
       * which servers accept); `unknown`: no entry of the configured search has this username;
       * `ambiguous`: several have; `disabled`: the account is disabled; `wrong`: the server refused
       * the password.
       */
      reason: 'empty' | 'unknown' | 'ambiguous' | 'disabled' | 'wrong'
    }

/**
 * The company directory over LDAP (ldapts): LDAPS or StartTLS with the configured CA, a bind as
 * the service account, paged searches (RFC 2696; Active Directory answers at most 1,000 entries to
 * a search without paging), and the bind check the web portal needs. Each call opens its own
 * connection and closes it before returning; nothing is kept between syncs.
 */
export class LdapDirectory implements DirectoryReader {
  readonly #config: DirectorySyncConfig
  readonly #logger: Logger

  constructor(config: DirectorySyncConfig, logger: Logger) {
    this.#config = config
    this.#logger = logger
    const { ldap } = config
    if (ldap.url.startsWith('ldap://') && !ldap.startTls) {
      logger.warn({ url: ldap.url }, 'the directory is read over plain LDAP: the service account\'s password crosses the network in clear (use ldaps:// or start_tls)')
    }
  }

  async read(mode: 'full' | 'incremental', since: string | undefined, signal: AbortSignal): Promise<DirectoryRead> {
    const { ldap, attributes } = this.#config
    return this.#withServiceAccount(signal, async (client) => {
      let mark: string | undefined
      let filter = ldap.filter
      if (ldap.incremental === 'usn') {
        // Read before the search: whatever changes during it has a higher USN and is read again next time.
        mark = await highestCommittedUsn(client)
        if (mode === 'incremental' && since !== undefined) filter = `(&${ldap.filter}(uSNChanged>=${BigInt(since) + 1n}))`
      } else if (ldap.incremental === 'timestamp') {
        mark = generalizedTime(new Date(Date.now() - ldap.clockSkewMs))
        if (mode === 'incremental' && since !== undefined) filter = `(&${ldap.filter}(modifyTimestamp>=${since}))`
      }
      const entries: DirectoryEntry[] = []
      const pages = client.searchPaginated(ldap.baseDn, {
        scope: ldap.scope,
        filter,
        attributes: requestedAttributes(attributes),
        explicitBufferAttributes: [attributes.key],
        paged: { pageSize: ldap.pageSize },
        timeLimit: Math.ceil(ldap.timeoutMs / 1_000),
      })
      try {
        for await (const page of pages) {
          if (signal.aborted) throw aborted()
          for (const entry of page.searchEntries) entries.push(toDirectoryEntry(entry as LdapEntry, attributes))
        }
      } catch (error) {
        if (signal.aborted || error instanceof DirectorySyncError) throw signal.aborted ? aborted() : error
        throw new DirectorySyncError('SEARCH', `the search of ${ldap.baseDn} failed: ${(error as Error).message}`, { cause: error })
      }
      this.#logger.debug({ mode, entries: entries.length, filter }, 'directory read')
      return { entries, mark }
    })
  }

  /**
   * Whether `password` is the directory password of the worker with `username` (the web portal's
   * "sign in with your company password"): the service account finds the one entry of the
   * configured search whose username attribute equals `username` (escaped: no filter injection),
   * refuses a disabled account, then binds as that entry's DN with `password` on a connection of
   * its own. An empty password is refused before anything is sent. Failures are not counted here:
   * the caller keeps its own lockout (the directory's own lockout policy applies too). Throws
   * DirectorySyncError when the directory cannot be asked (CONNECT, BIND of the service account,
   * SEARCH). The password is never logged.
   */
  async verifyPassword(username: string, password: string, signal: AbortSignal = new AbortController().signal): Promise<PasswordCheck> {
    if (username.trim() === '' || password === '') return { verified: false, reason: 'empty' }
    const { ldap, attributes } = this.#config
    const found = await this.#withServiceAccount(signal, async (client) => {
      const filter: Filter = new AndFilter({ filters: [FilterParser.parseString(ldap.filter), new EqualityFilter({ attribute: attributes.username, value: username.trim() })] })
      try {
        const { searchEntries } = await client.search(ldap.baseDn, {
          scope: ldap.scope,
          filter,
          attributes: requestedAttributes(attributes),
          explicitBufferAttributes: [attributes.key],
          sizeLimit: 2,
          timeLimit: Math.ceil(ldap.timeoutMs / 1_000),
        })
        return searchEntries.map((entry) => toDirectoryEntry(entry as LdapEntry, attributes))
      } catch (error) {
        throw new DirectorySyncError('SEARCH', `looking up a username failed: ${(error as Error).message}`, { cause: error })
      }
    })
    if (found.length === 0) return { verified: false, reason: 'unknown' }
    if (found.length > 1) return { verified: false, reason: 'ambiguous' }
    const entry = found[0]!
    if (entry.disabled) return { verified: false, reason: 'disabled' }
    const client = await this.#connect(signal)
    try {
      await client.bind(entry.dn, password)
      return { verified: true, entry }
    } catch (error) {
      if (error instanceof InvalidCredentialsError) return { verified: false, reason: 'wrong' }
      throw new DirectorySyncError('CONNECT', `the directory did not answer the bind: ${(error as Error).message}`, { cause: error })
    } finally {
      await client.unbind().catch(() => undefined)
    }
  }

  /**
   * Whether the entry `dn` is a direct member of the group `groupDn` (its `member` or
   * `uniqueMember` attribute names the DN: groupOfNames, groupOfUniqueNames, Active Directory's
   * groups; nested groups are not followed). The service account reads the group entry itself, so
   * no memberOf overlay is needed. A group that does not exist has no members. Throws
   * DirectorySyncError (CONNECT, BIND, SEARCH) when the directory cannot be asked.
   */
  async isMember(dn: string, groupDn: string, signal: AbortSignal = new AbortController().signal): Promise<boolean> {
    const { ldap } = this.#config
    return this.#withServiceAccount(signal, async (client) => {
      const filter = new OrFilter({ filters: [new EqualityFilter({ attribute: 'member', value: dn }), new EqualityFilter({ attribute: 'uniqueMember', value: dn })] })
      try {
        const { searchEntries } = await client.search(groupDn, { scope: 'base', filter, attributes: ['dn'], sizeLimit: 1, timeLimit: Math.ceil(ldap.timeoutMs / 1_000) })
        return searchEntries.length > 0
      } catch (error) {
        if (error instanceof NoSuchObjectError) return false
        throw new DirectorySyncError('SEARCH', `reading the group ${groupDn} failed: ${(error as Error).message}`, { cause: error })
      }
    })
  }

  /** Opens a connection (TLS as configured), binds as the service account, runs `work`, closes it. */
  async #withServiceAccount<T>(signal: AbortSignal, work: (client: Client) => Promise<T>): Promise<T> {
    const { ldap } = this.#config
    const client = await this.#connect(signal)
    const onAbort = (): void => void client.unbind().catch(() => undefined)
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      try {
        await client.bind(ldap.bindDn, ldap.bindPassword())
      } catch (error) {
        if (signal.aborted) throw aborted()
        if (error instanceof InvalidCredentialsError) throw new DirectorySyncError('BIND', `the directory refused the bind of ${ldap.bindDn} (ldap.bind_dn, ldap.bind_password_file)`, { cause: error })
        throw new DirectorySyncError('CONNECT', `cannot bind to ${ldap.url}: ${(error as Error).message}`, { cause: error })
      }
      return await work(client)
    } finally {
      signal.removeEventListener('abort', onAbort)
      await client.unbind().catch(() => undefined)
    }
  }

  async #connect(signal: AbortSignal): Promise<Client> {
    if (signal.aborted) throw aborted()
    const { ldap } = this.#config
    const tlsOptions = { minVersion: 'TLSv1.2' as const, ...(ldap.ca === undefined ? {} : { ca: [ldap.ca] }) }
    // ldapts speaks TLS from the start whenever it is given TLS options: only for ldaps://.
    const secure = ldap.url.startsWith('ldaps:')
    const client = new Client({ url: ldap.url, timeout: ldap.timeoutMs, connectTimeout: ldap.timeoutMs, ...(secure ? { tlsOptions } : {}), strictDN: false })
    if (ldap.startTls) {
      try {
        await client.startTLS({ ...tlsOptions, servername: new URL(ldap.url).hostname })
      } catch (error) {
        await client.unbind().catch(() => undefined)
        throw new DirectorySyncError('CONNECT', `StartTLS with ${ldap.url} failed: ${(error as Error).message}`, { cause: error })
      }
    }
    return client
  }
}

/** The rootDSE's highestCommittedUSN (Active Directory); a SEARCH error where the server has none. */
async function highestCommittedUsn(client: Client): Promise<string> {
  let value: unknown
  try {
    const { searchEntries } = await client.search('', { scope: 'base', filter: '(objectClass=*)', attributes: ['highestCommittedUSN'] })
    const root = searchEntries[0] ?? {}
    value = Object.entries(root).find(([name]) => name.toLowerCase() === 'highestcommittedusn')?.[1]
  } catch (error) {
    throw new DirectorySyncError('SEARCH', `reading the rootDSE's highestCommittedUSN failed: ${(error as Error).message}`, { cause: error })
  }
  const text = String(Array.isArray(value) ? value[0] : (value ?? ''))
  if (!/^[0-9]{1,19}$/.test(text)) {
    throw new DirectorySyncError('SEARCH', 'the server has no highestCommittedUSN in its rootDSE (not Active Directory?): set ldap.incremental to timestamp')
  }
  return text
}

/** An LDAP generalized time in UTC to the second (RFC 4517 §3.3.13), e.g. 20261122032000Z. */
export function generalizedTime(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').replace(/\.\d{3}Z$/, 'Z')
}

function aborted(): DirectorySyncError {
  return new DirectorySyncError('ABORTED', 'the directory read was stopped')
}

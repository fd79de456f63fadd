// The administrators' page: the live map (branches → desks → who sits there, pending seats,
// phones online, each branch's confirmation lease, the registry leader), fed by server-sent
// events; force sign-out; the workers (unlock, PIN, edit, seat history) and the desks.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { ApiError, get, post, type SessionInfo } from './api'
import { Field, Message, type Notice, noticeOf, Section } from './components'
import { clock, reasonWords, seatEndWords, viaWords, when } from './format'
import { OccupancyReport } from './occupancy'

interface Site { id: string; name: string; timezone: string }
interface Device { id: string; siteId: string; extension: string; label: string; model: string; flexHost: boolean }
interface Seat { userId: string; extension: string; displayName: string; deviceId: string; siteId: string; since: string; expiresAt: string | null; dailySignOutAt: string | null; idleSeconds: number; renewedAt: string | null; via: string; pending: string[] }
interface SeatEvent { type: 'seated' | 'released'; seat: Seat; reason: string }
interface Cluster { leader: { siteId: string; instanceId: string } | null; instances: { siteId: string; instanceId: string; serving: boolean; leader: boolean }[]; branches: { siteId: string; leaseHeld: boolean; nodeId: string; onlinePhones: number }[]; online: string[] }
interface User { id: string; extension: string; displayName: string; homeSiteId: string; roamingAllowed: boolean; maxSeatHours: number; department: string; email: string; lockedUntil: string | null; hasPin: boolean; disabled: boolean; fromDirectory: boolean; lampCaller: 'show' | 'hide' | 'branch' }
interface HistoryRecord { deviceId: string; siteId: string; extension: string; start: string; end: string | null; reason: string; via: string }

type Feed = 'connecting' | 'live' | 'reconnecting' | 'ended'

/** The live map's state: seats by worker, fed by the event stream. */
function useLiveMap(onEnded: (why: string) => void): { seats: Map<string, Seat>; cluster: Cluster | undefined; feed: Feed; updated: Date | undefined; revision: string } {
  const [seats, setSeats] = useState(new Map<string, Seat>())
  const [cluster, setCluster] = useState<Cluster | undefined>(undefined)
  const [feed, setFeed] = useState<Feed>('connecting')
  const [updated, setUpdated] = useState<Date | undefined>(undefined)
  const [revision, setRevision] = useState('0')
  useEffect(() => {
    const source = new EventSource('/api/admin/events')
    source.onopen = () => setFeed('live')
    source.onerror = () => setFeed(source.readyState === EventSource.CLOSED ? 'ended' : 'reconnecting')
    source.addEventListener('snapshot', (e) => {
      const data = JSON.parse((e as MessageEvent<string>).data) as { revision: string; seats: Seat[] }
      setSeats(new Map(data.seats.map((s) => [s.userId, s])))
      setRevision(data.revision)
      setUpdated(new Date())
    })
    source.addEventListener('seats', (e) => {
      const data = JSON.parse((e as MessageEvent<string>).data) as { revision: string; events: SeatEvent[] }
      setSeats((before) => {
        const next = new Map(before)
        for (const event of data.events) {
          if (event.type === 'released') {
            if (next.get(event.seat.userId)?.deviceId === event.seat.deviceId) next.delete(event.seat.userId)
          } else next.set(event.seat.userId, event.seat)
        }
        return next
      })
      setRevision(data.revision)
      setUpdated(new Date())
    })
    source.addEventListener('cluster', (e) => {
      setCluster(JSON.parse((e as MessageEvent<string>).data) as Cluster)
      setUpdated(new Date())
    })
    source.addEventListener('ended', (e) => {
      source.close()
      setFeed('ended')
      onEnded((JSON.parse((e as MessageEvent<string>).data) as { message: string }).message)
    })
    return () => source.close()
  }, [])
  return { seats, cluster, feed, updated, revision }
}

export function AdminPage({ session, onSignedOut }: { session: SessionInfo; onSignedOut: (why?: string) => void }) {
  const [sites, setSites] = useState<Site[]>([])
  const [devices, setDevices] = useState<Device[]>([])
  const [notice, setNotice] = useState<Notice | undefined>(undefined)
  const live = useLiveMap((why) => onSignedOut(why))
  const loadMap = async (): Promise<void> => {
    try {
      const map = await get<{ sites: Site[]; devices: Device[] }>('/api/admin/map')
      setSites(map.sites)
      setDevices(map.devices)
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) onSignedOut(error.message)
      else setNotice(noticeOf(error))
    }
  }
  useEffect(() => void loadMap(), [])
  const siteName = (id: string): string => sites.find((s) => s.id === id)?.name ?? id
  // When the seat ends by itself and by which rule, in its branch's time zone (as the worker's page says it).
  const endWords = (seat: Seat): string => {
    const words = seatEndWords(seat, sites.find((s) => s.id === seat.siteId)?.timezone ?? '')
    return words === '' ? '' : `, ${words}`
  }
  const signOut = async (seat: Seat): Promise<void> => {
    try {
      await post(`/api/admin/seats/${encodeURIComponent(seat.userId)}/release`)
      setNotice({ kind: 'ok', text: `${seat.displayName} (${seat.extension}) signed out of ${seat.deviceId}` })
    } catch (error) {
      setNotice(noticeOf(error))
    }
  }
  const byDesk = useMemo(() => new Map([...live.seats.values()].map((s) => [s.deviceId, s])), [live.seats])
  const online = new Set(live.cluster?.online ?? [])
  return (
    <>
      <Section id="map" title="Live map">
        <p class="feed" role="status" aria-live="polite" data-feed={live.feed} data-revision={live.revision}>
          {live.feed === 'live' ? 'Live' : live.feed === 'connecting' ? 'Connecting…' : live.feed === 'reconnecting' ? 'Reconnecting…' : 'Stopped'}
          {live.updated === undefined ? '' : ` · updated ${clock(live.updated)}`}
          {' · '}registry leader: {live.cluster?.leader === null || live.cluster === undefined ? 'none (an election is under way)' : `${siteName(live.cluster.leader.siteId)} (${live.cluster.leader.instanceId})`}
        </p>
        <Message notice={notice} id="map-message" />
        {sites.map((site) => {
          const branch = live.cluster?.branches.find((b) => b.siteId === site.id)
          const desks = devices.filter((d) => d.siteId === site.id)
          return (
            <section key={site.id} aria-labelledby={`branch-${site.id}`} class="branch" data-site={site.id}>
              <h3 id={`branch-${site.id}`}>{site.name}</h3>
              <p class="lease">
                {branch === undefined || !branch.leaseHeld ? <strong class="warn">No SIP node holds the branch's lease</strong> : <>SIP node {branch.nodeId}: lease held</>}
                {' · '}
                {branch?.onlinePhones ?? 0} {(branch?.onlinePhones ?? 0) === 1 ? 'phone' : 'phones'} online
              </p>
              <table>
                <caption class="visually-hidden">Desks of {site.name}</caption>
                <thead>
                  <tr><th scope="col">Desk</th><th scope="col">Phone</th><th scope="col">Who sits there</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr>
                </thead>
                <tbody>
                  {desks.map((desk) => {
                    const seat = byDesk.get(desk.id)
                    return (
                      <tr key={desk.id} data-desk={desk.id} data-occupant={seat?.extension ?? ''}>
                        <th scope="row">
                          {desk.label || desk.id}
                          <span class="sub">{desk.id} · ext. {desk.extension || '-'}{desk.flexHost ? '' : ' · not a flex desk'}</span>
                        </th>
                        <td>{online.has(desk.id) ? 'online' : <span class="muted">offline</span>}</td>
                        <td>
                          {seat === undefined ? (
                            <span class="muted">nobody</span>
                          ) : (
                            <>
                              {seat.displayName} ({seat.extension})
                              <span class="sub">
                                since {when(seat.since)}{endWords(seat)}, {viaWords(seat.via)}
                                {seat.pending.length > 0 ? <strong class="warn"> · pending: {seat.pending.map(siteName).join(', ')}</strong> : null}
                              </span>
                            </>
                          )}
                        </td>
                        <td>
                          {seat === undefined ? null : (
                            <button type="button" onClick={() => void signOut(seat)} aria-label={`Sign ${seat.displayName} out of ${desk.label || desk.id}`}>
                              Sign out
                            </button>
                          )}
                        </td>
                      </tr>
                    )
                  })}
                </tbody>
              </table>
            </section>
          )
        })}
      </Section>
      <Workers sites={sites} siteName={siteName} />
      <Desks sites={sites} devices={devices} siteName={siteName} onChanged={loadMap} />
      <OccupancyReport sites={sites} />
      <p class="aside">Signed in as {session.name}.</p>
    </>
  )
}

function Workers({ sites, siteName }: { sites: Site[]; siteName: (id: string) => string }) {
  const [users, setUsers] = useState<User[]>([])
  const [filter, setFilter] = useState('')
  const [notice, setNotice] = useState<Notice | undefined>(undefined)
  const [editing, setEditing] = useState<User | 'new' | undefined>(undefined)
  const [history, setHistory] = useState<{ user: User; records: HistoryRecord[] } | undefined>(undefined)
  const load = async (): Promise<void> => {
    try {
      setUsers((await get<{ users: User[] }>('/api/admin/users')).users)
    } catch (error) {
      setNotice(noticeOf(error))
    }
  }
  useEffect(() => void load(), [])
  // The confirmation comes with the list that shows it (read out while the table still said
  // otherwise, it would contradict the page).
  const act = async (what: () => Promise<unknown>, done: string): Promise<void> => {
    try {
      await what()
      await load()
      setNotice({ kind: 'ok', text: done })
    } catch (error) {
      setNotice(noticeOf(error))
    }
  }
  const showHistory = async (user: User): Promise<void> => {
    try {
      setHistory({ user, records: (await get<{ records: HistoryRecord[] }>(`/api/admin/users/${encodeURIComponent(user.id)}/history`)).records })
      requestAnimationFrame(() => document.getElementById('history-title')?.focus())
    } catch (error) {
      setNotice(noticeOf(error))
    }
  }
  const shown = users.filter((u) => filter === '' || `${u.displayName} ${u.extension} ${u.id}`.toLowerCase().includes(filter.toLowerCase()))
  return (
    <Section id="workers" title="Workers">
      <div class="row">
        <Field id="worker-filter" name="filter" label="Find a worker" hint="name, extension or id" value={filter} onInput={setFilter} required={false} />
        <button type="button" onClick={() => setEditing('new')}>Add a worker</button>
      </div>
      <Message notice={notice} id="workers-message" />
      {editing === undefined ? null : (
        <WorkerForm key={editing === 'new' ? '' : editing.id} user={editing === 'new' ? undefined : editing} sites={sites} onDone={async (text) => {
          setEditing(undefined)
          if (text !== undefined) {
            await load()
            setNotice({ kind: 'ok', text })
          }
        }} />
      )}
      <table>
        <caption class="visually-hidden">Workers</caption>
        <thead>
          <tr><th scope="col">Worker</th><th scope="col">Home</th><th scope="col">State</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr>
        </thead>
        <tbody>
          {shown.map((u) => (
            <tr key={u.id} data-user={u.id}>
              <th scope="row">{u.displayName} ({u.extension})<span class="sub">{u.id}{u.fromDirectory ? ' · from the directory' : ''}</span></th>
              <td>{siteName(u.homeSiteId)}{u.roamingAllowed ? ', roams' : ''}</td>
              <td>
                {u.disabled ? 'disabled' : u.lockedUntil !== null ? <strong class="warn">locked until {when(u.lockedUntil)}</strong> : u.hasPin ? 'ok' : 'no PIN yet'}
              </td>
              <td class="actions">
                {u.lockedUntil === null ? null : (
                  <button type="button" onClick={() => void act(() => post(`/api/admin/users/${encodeURIComponent(u.id)}/unlock`), `${u.displayName} unlocked`)} aria-label={`Unlock ${u.displayName}`}>Unlock</button>
                )}
                <button type="button" onClick={() => setEditing(u)} aria-label={`Edit ${u.displayName}`}>Edit</button>
                <button type="button" onClick={() => void showHistory(u)} aria-label={`Seat history of ${u.displayName}`}>History</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {history === undefined ? null : (
        <section aria-labelledby="history-title" class="history">
          <h3 id="history-title" tabIndex={-1}>Seat history of {history.user.displayName} ({history.user.extension})</h3>
          {history.records.length === 0 ? <p>No seats kept.</p> : (
            <table>
              <thead>
                <tr><th scope="col">Desk</th><th scope="col">Branch</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Signed in</th><th scope="col">Why it ended</th></tr>
              </thead>
              <tbody>
                {history.records.map((r) => (
                  <tr key={`${r.start}-${r.deviceId}`}><td>{r.deviceId}</td><td>{siteName(r.siteId)}</td><td>{when(r.start)}</td><td>{when(r.end)}</td><td>{viaWords(r.via)}</td><td>{reasonWords(r.reason)}</td></tr>
                ))}
              </tbody>
            </table>
          )}
          <button type="button" onClick={() => setHistory(undefined)}>Close the history</button>
        </section>
      )}
    </Section>
  )
}

function WorkerForm({ user, sites, onDone }: { user: User | undefined; sites: Site[]; onDone: (text?: string) => Promise<void> }) {
  const [id, setId] = useState(user?.id ?? '')
  const [extension, setExtension] = useState(user?.extension ?? '')
  const [displayName, setDisplayName] = useState(user?.displayName ?? '')
  const [chosenHome, setHomeSiteId] = useState(user?.homeSiteId ?? '')
  // A form opened before the branches have loaded shows the first one once they have: send that one.
  const homeSiteId = chosenHome || sites[0]?.id || ''
  const [roaming, setRoaming] = useState(user?.roamingAllowed ?? true)
  const [maxHours, setMaxHours] = useState(String(user?.maxSeatHours ?? 0))
  const [lampCaller, setLampCaller] = useState(user?.lampCaller ?? 'branch')
  const [pin, setPin] = useState('')
  const [notice, setNotice] = useState<Notice | undefined>(undefined)
  const heading = useRef<HTMLHeadingElement>(null)
  useEffect(() => heading.current?.focus(), [])
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault()
    const fields = { extension, displayName, homeSiteId, roamingAllowed: roaming, maxSeatHours: Number(maxHours), lampCaller }
    try {
      if (user === undefined) await post('/api/admin/users', { id, pin, ...fields })
      else {
        await post(`/api/admin/users/${encodeURIComponent(user.id)}`, fields)
        if (pin !== '') await post(`/api/admin/users/${encodeURIComponent(user.id)}/pin`, { pin })
      }
      await onDone(user === undefined ? `${displayName} added` : `${displayName} saved`)
    } catch (error) {
      setNotice(noticeOf(error))
    }
  }
  return (
    <form onSubmit={submit} class="editor" aria-labelledby="worker-form-title">
      <h3 id="worker-form-title" tabIndex={-1} ref={heading}>{user === undefined ? 'Add a worker' : `Edit ${user.displayName}`}</h3>
      {user === undefined ? <Field id="w-id" name="id" label="Id" hint="lower-case letters, digits, . _ -" value={id} onInput={setId} notice={notice} messageId="worker-form-message" /> : null}
      <Field id="w-name" name="displayName" label="Name" value={displayName} onInput={setDisplayName} notice={notice} messageId="worker-form-message" />
      <Field id="w-ext" name="extension" label="Extension" inputMode="numeric" pattern="[0-9]{2,15}" value={extension} onInput={setExtension} notice={notice} messageId="worker-form-message" />
      <div class="field">
        <label for="w-home">Home branch</label>
        <select id="w-home" value={homeSiteId} onChange={(e) => setHomeSiteId((e.currentTarget as HTMLSelectElement).value)}>
          {sites.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
        </select>
      </div>
      <label class="check"><input type="checkbox" checked={roaming} onChange={(e) => setRoaming((e.currentTarget as HTMLInputElement).checked)} /> May sit at other branches</label>
      <Field id="w-max" name="maxSeatHours" label="Maximum hours per seat (0: no limit)" type="number" min={0} max={8760} value={maxHours} onInput={setMaxHours} notice={notice} messageId="worker-form-message" />
      <div class="field">
        <label for="w-lamps">Caller shown on busy lamps watching this worker</label>
        <select id="w-lamps" value={lampCaller} onChange={(e) => setLampCaller((e.currentTarget as HTMLSelectElement).value as User['lampCaller'])}>
          <option value="branch">As the branch sets it</option>
          <option value="show">Shown</option>
          <option value="hide">Hidden</option>
        </select>
      </div>
      <Field id="w-pin" name="pin" label={user === undefined ? 'PIN' : 'New PIN (leave empty to keep)'} type="password" inputMode="numeric" pattern="[0-9]{4,12}" autoComplete="new-password" value={pin} onInput={setPin} notice={notice} messageId="worker-form-message" required={user === undefined} />
      <button type="submit">Save</button> <button type="button" onClick={() => void onDone()}>Cancel</button>
      <Message notice={notice} id="worker-form-message" />
    </form>
  )
}

function Desks({ sites, devices, siteName, onChanged }: { sites: Site[]; devices: Device[]; siteName: (id: string) => string; onChanged: () => Promise<void> }) {
  const [editing, setEditing] = useState<Device | 'new' | undefined>(undefined)
  const [notice, setNotice] = useState<Notice | undefined>(undefined)
  return (
    <Section id="desks" title="Desks">
      <button type="button" onClick={() => setEditing('new')}>Add a desk</button>
      <Message notice={notice} id="desks-message" />
      {editing === undefined ? null : (
        <DeskForm key={editing === 'new' ? '' : editing.id} device={editing === 'new' ? undefined : editing} sites={sites} onDone={async (text) => {
          setEditing(undefined)
          if (text !== undefined) {
            await onChanged()
            setNotice({ kind: 'ok', text })
          }
        }} />
      )}
      <table>
        <caption class="visually-hidden">Desks</caption>
        <thead><tr><th scope="col">Desk</th><th scope="col">Branch</th><th scope="col">Flex desk</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>
          {devices.map((d) => (
            <tr key={d.id}>
              <th scope="row">{d.label || d.id}<span class="sub">{d.id} · ext. {d.extension || '-'}</span></th>
              <td>{siteName(d.siteId)}</td>
              <td>{d.flexHost ? 'yes' : 'no'}</td>
              <td><button type="button" onClick={() => setEditing(d)} aria-label={`Edit desk ${d.label || d.id}`}>Edit</button></td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  )
}

function DeskForm({ device, sites, onDone }: { device: Device | undefined; sites: Site[]; onDone: (text?: string) => Promise<void> }) {
  const [id, setId] = useState(device?.id ?? '')
  const [chosenSite, setSiteId] = useState(device?.siteId ?? '')
  // As in the worker's form: the first branch once the branches have loaded.
  const siteId = chosenSite || sites[0]?.id || ''
  const [extension, setExtension] = useState(device?.extension ?? '')
  const [label, setLabel] = useState(device?.label ?? '')
  const [flexHost, setFlexHost] = useState(device?.flexHost ?? true)
  const [password, setPassword] = useState('')
  const [notice, setNotice] = useState<Notice | undefined>(undefined)
  const heading = useRef<HTMLHeadingElement>(null)
  useEffect(() => heading.current?.focus(), [])
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault()
    const fields = { siteId, extension, label, flexHost, ...(password === '' ? {} : { sipPassword: password }) }
    try {
      if (device === undefined) await post('/api/admin/devices', { id, ...fields })
      else await post(`/api/admin/devices/${encodeURIComponent(device.id)}`, fields)
      await onDone(device === undefined ? `Desk ${label || id} added` : `Desk ${label || device.id} saved`)
    } catch (error) {
      setNotice(noticeOf(error))
    }
  }
  return (
    <form onSubmit={submit} class="editor" aria-labelledby="desk-form-title">
      <h3 id="desk-form-title" tabIndex={-1} ref={heading}>{device === undefined ? 'Add a desk' : `Edit desk ${device.label || device.id}`}</h3>
      {device === undefined ? <Field id="d-id" name="id" label="Id (the phone's SIP user name)" value={id} onInput={setId} notice={notice} messageId="desk-form-message" /> : null}
      <div class="field">
        <label for="d-site">Branch</label>
        <select id="d-site" value={siteId} onChange={(e) => setSiteId((e.currentTarget as HTMLSelectElement).value)}>
          {sites.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
        </select>
      </div>
      <Field id="d-label" name="label" label="Label (where it stands)" value={label} onInput={setLabel} notice={notice} messageId="desk-form-message" required={false} />
      <Field id="d-ext" name="extension" label="The phone's own extension" inputMode="numeric" pattern="[0-9]{2,15}" value={extension} onInput={setExtension} notice={notice} messageId="desk-form-message" required={false} />
      <label class="check"><input type="checkbox" checked={flexHost} onChange={(e) => setFlexHost((e.currentTarget as HTMLInputElement).checked)} /> Workers may sit here (flex desk)</label>
      <Field id="d-password" name="sipPassword" label={device === undefined ? 'SIP password' : 'New SIP password (leave empty to keep)'} type="password" autoComplete="new-password" value={password} onInput={setPassword} notice={notice} messageId="desk-form-message" required={false} />
      <button type="submit">Save</button> <button type="button" onClick={() => void onDone()}>Cancel</button>
      <Message notice={notice} id="desk-form-message" />
    </form>
  )
}

// The workers' page: where I sit, finding and taking a free flex desk for some hours, releasing
// it, changing my PIN, my recent desks, my calls.
//
// What the page says about my desk is what the registry said last, never what a request hoped
// for: after taking a desk it reads the seat again before it confirms, and a seat still pending
// (waiting for the previous branch to let go, bounded by that branch's confirmation lease) is
// shown as pending and read again every second until the registry says it is active.
import { useEffect, useState } from 'preact/hooks'
import { get, post, type SessionInfo } from './api'
import { Field, Message, type Notice, noticeOf, Section } from './components'
import { callWords, duration, reasonWords, seatEndWords, viaWords, when } from './format'

interface Seat { deviceId: string; siteId: string; since: string; expiresAt: string | null; dailySignOutAt: string | null; dailySignOut: string; idleSeconds: number; renewedAt: string | null; via: string; pending: string[]; extension: string; displayName: string }
interface Desk { id: string; label: string; siteId: string; extension: string }
interface Site { id: string; name: string; timezone: string }
interface User { id: string; extension: string; displayName: string; homeSiteId: string; hasPin: boolean; roamingAllowed: boolean }
interface Me { user: User; seat: Seat | null; desk: Desk | null; sites: Site[] }
interface FreeDesk { deviceId: string; siteId: string; label: string; extension: string; online: boolean }
interface HistoryRecord { deviceId: string; siteId: string; start: string; end: string | null; reason: string; via: string }
interface Call { direction: 'incoming' | 'outgoing'; startedAt: string; otherParty: string; otherPartyName: string; answered: boolean; durationSeconds: number; siteId: string; deviceId: string }

/**
 * Until when the seat lasts and why: the deadlines its sign-out policy gave it (seatEndWords, in
 * the site's time zone), or nothing but the worker (or another sign-in) ends it.
 */
function untilWords(seat: Seat, timeZone: string): string {
  const words = seatEndWords(seat, timeZone)
  return words === '' ? 'no end time: until you release it, sign in at another desk, or someone else signs in here' : `${words}; you can release it sooner`
}

/** How often a pending seat is read again (its wait is bounded by the old branch's lease). */
const PENDING_POLL_MS = 1_000

export function WorkerPage({ onSignedOut }: { session: SessionInfo; onSignedOut: (why?: string) => void }) {
  const [me, setMe] = useState<Me | undefined>(undefined)
  const [notice, setNotice] = useState<Notice | undefined>(undefined)
  const [history, setHistory] = useState<HistoryRecord[]>([])
  const [calls, setCalls] = useState<Call[]>([])
  /** Reads my seat, recent desks and calls again; undefined when a read failed (the notice says why). */
  const refresh = async (): Promise<Me | undefined> => {
    try {
      const [next, past, list] = await Promise.all([get<Me>('/api/me'), get<{ records: HistoryRecord[] }>('/api/history'), get<{ calls: Call[] }>('/api/calls')])
      setMe(next)
      setHistory(past.records)
      setCalls(list.calls)
      return next
    } catch (error) {
      const n = noticeOf(error)
      if ((error as { status?: number }).status === 401) onSignedOut(n.text)
      else setNotice(n)
      return undefined
    }
  }
  useEffect(() => void refresh(), [])
  const siteName = (id: string): string => me?.sites.find((s) => s.id === id)?.name ?? id
  // A pending seat: read it again until the registry completes it (or it changed otherwise).
  useEffect(() => {
    const waiting = me?.seat
    if (waiting === null || waiting === undefined || waiting.pending.length === 0) return
    const timer = setTimeout(() => {
      void refresh().then((next) => {
        const now = next?.seat
        if (now !== null && now !== undefined && now.deviceId === waiting.deviceId && now.pending.length === 0) {
          setNotice({ kind: 'ok', text: `${waiting.pending.map(siteName).join(', ')} let go of your previous desk: ${next?.desk?.label || now.deviceId} in ${siteName(now.siteId)} rings for you now` })
        }
      })
    }, PENDING_POLL_MS)
    return () => clearTimeout(timer)
  }, [me])
  const release = async (): Promise<void> => {
    try {
      await post('/api/seat/release')
      await refresh()
      setNotice({ kind: 'ok', text: 'Desk released: your calls no longer ring there' })
    } catch (error) {
      setNotice(noticeOf(error))
    }
  }
  if (me === undefined) return <p role="status">{notice?.text ?? 'Loading…'}</p>
  const seat = me.seat
  return (
    <>
      <h1 class="greeting">Hello, {me.user.displayName} ({me.user.extension})</h1>
      <Section id="seat" title="Your desk">
        {seat === null ? (
          <p>You are not signed in at any desk.</p>
        ) : (
          <>
            <p>
              You sit at <strong>{me.desk?.label || seat.deviceId}</strong> in {siteName(seat.siteId)}
              {seat.pending.length > 0 ? ' (waiting for ' + seat.pending.map(siteName).join(', ') + ' to let go of your previous desk)' : ''}.
            </p>
            <dl class="facts">
              <dt>Since</dt>
              <dd>{when(seat.since)}</dd>
              <dt>Until</dt>
              <dd id="seat-until">{untilWords(seat, me.sites.find((s) => s.id === seat.siteId)?.timezone ?? 'UTC')}</dd>
              <dt>Signed in</dt>
              <dd>{viaWords(seat.via)}</dd>
            </dl>
            <button type="button" onClick={release}>
              Release this desk
            </button>
          </>
        )}
        <Message notice={notice} id="seat-message" />
      </Section>
      <FindDesk sites={me.sites} homeSiteId={me.user.homeSiteId} siteName={siteName} onTaken={async (text) => {
        // Confirm once the page shows the seat the registry now holds, not before.
        await refresh()
        setNotice({ kind: 'ok', text })
        document.getElementById('seat-title')?.focus()
      }} />
      <ChangePin needsOld={me.user.hasPin} />
      <Section id="history" title="Your recent desks">
        {history.length === 0 ? (
          <p>None yet.</p>
        ) : (
          <table>
            <caption class="visually-hidden">Your recent desks, newest first</caption>
            <thead>
              <tr><th scope="col">Desk</th><th scope="col">Branch</th><th scope="col">From</th><th scope="col">To</th><th scope="col">How</th><th scope="col">Why it ended</th></tr>
            </thead>
            <tbody>
              {history.map((r) => (
                <tr key={`${r.start}-${r.deviceId}`} data-reason={r.reason}>
                  <td>{r.deviceId}</td><td>{siteName(r.siteId)}</td><td>{when(r.start)}</td><td>{when(r.end)}</td><td>{viaWords(r.via)}</td><td>{reasonWords(r.reason)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section id="calls" title="Your calls">
        {calls.length === 0 ? (
          <p>No calls yet.</p>
        ) : (
          <table>
            <caption class="visually-hidden">Your calls, newest first, whatever desk you sat at</caption>
            <thead>
              <tr><th scope="col">When</th><th scope="col">Call</th><th scope="col">Number</th><th scope="col">Name</th><th scope="col">Length</th><th scope="col">Desk</th></tr>
            </thead>
            <tbody>
              {calls.map((c) => (
                <tr key={`${c.startedAt}-${c.otherParty}-${c.direction}`} data-call={c.direction}>
                  <td>{when(c.startedAt)}</td><td>{callWords(c.direction, c.answered)}</td><td>{c.otherParty}</td><td>{c.otherPartyName}</td><td>{c.answered ? duration(c.durationSeconds) : ''}</td><td>{c.deviceId === '' ? '' : `${c.deviceId} (${siteName(c.siteId)})`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <p>
          <button type="button" onClick={() => void refresh()}>Refresh calls</button>
        </p>
      </Section>
    </>
  )
}

function FindDesk({ sites, homeSiteId, siteName, onTaken }: { sites: Site[]; homeSiteId: string; siteName: (id: string) => string; onTaken: (text: string) => Promise<void> }) {
  const [site, setSite] = useState(homeSiteId)
  const [query, setQuery] = useState('')
  const [hours, setHours] = useState('8')
  const [untilReleased, setUntilReleased] = useState(false)
  const [desks, setDesks] = useState<FreeDesk[] | undefined>(undefined)
  const [notice, setNotice] = useState<Notice | undefined>(undefined)
  const [busy, setBusy] = useState(false)
  const search = async (event?: Event): Promise<void> => {
    event?.preventDefault()
    setNotice(undefined)
    try {
      const res = await get<{ desks: FreeDesk[]; truncated: boolean }>(`/api/desks?site=${encodeURIComponent(site)}&q=${encodeURIComponent(query)}`)
      setDesks(res.desks)
      setNotice({ kind: 'ok', text: res.desks.length === 0 ? 'No free desk matches' : `${res.desks.length} free ${res.desks.length === 1 ? 'desk' : 'desks'}${res.truncated ? ' (the first ones; narrow the search)' : ''}` })
    } catch (error) {
      setNotice(noticeOf(error))
    }
  }
  const take = async (desk: FreeDesk): Promise<void> => {
    const n = Number(hours)
    if (!untilReleased && (!/^[0-9]{1,3}$/.test(hours) || n < 1 || n > 999)) {
      setNotice({ kind: 'error', text: 'Hours: a whole number from 1 to 999, or until released', field: 'hours' })
      document.getElementById('hours')?.focus()
      return
    }
    setBusy(true)
    // The Login may wait for the previous branch to let go (a few seconds at most): say so.
    setNotice({ kind: 'ok', text: `Taking ${desk.label || desk.deviceId} in ${siteName(desk.siteId)}…` })
    try {
      const res = await post<{ seat: Seat; pending: boolean }>('/api/seat', { deviceId: desk.deviceId, hours: untilReleased ? null : n })
      setDesks(undefined)
      setNotice(undefined)
      await onTaken(`You took ${desk.label || desk.deviceId} in ${siteName(desk.siteId)}${res.seat.expiresAt === null ? ' until you release it' : ` until ${when(res.seat.expiresAt)}`}: its phone rings for you${res.pending ? ' as soon as your previous branch lets go' : ''}`)
    } catch (error) {
      setNotice(noticeOf(error))
    } finally {
      setBusy(false)
    }
  }
  return (
    <Section id="find" title="Find a free desk">
      <form onSubmit={search} class="row" role="search" aria-label="Free desks">
        <div class="field">
          <label for="site">Branch</label>
          <select id="site" name="site" value={site} onChange={(e) => setSite((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">Every branch</option>
            {sites.map((s) => (
              <option key={s.id} value={s.id}>{s.name}</option>
            ))}
          </select>
        </div>
        <Field id="query" name="q" label="Label contains" hint="e.g. window, desk 3" value={query} onInput={setQuery} required={false} />
        <button type="submit">Search</button>
      </form>
      <fieldset class="duration">
        <legend>For how long</legend>
        <Field id="hours" name="hours" label="Hours (1 to 999)" type="number" inputMode="numeric" min={1} max={999} value={hours} onInput={setHours} disabled={untilReleased} notice={notice} messageId="find-message" />
        <label class="check">
          <input type="checkbox" checked={untilReleased} onChange={(e) => setUntilReleased((e.currentTarget as HTMLInputElement).checked)} /> Until I release it
        </label>
      </fieldset>
      <Message notice={notice} id="find-message" />
      {desks === undefined || desks.length === 0 ? null : (
        <ul class="desks" aria-label="Free desks found">
          {desks.map((desk) => (
            <li key={desk.deviceId}>
              <span class="desk-name">{desk.label || desk.deviceId}</span>
              <span class="desk-facts">{siteName(desk.siteId)} · ext. {desk.extension || '-'} · {desk.online ? 'phone online' : 'phone offline'}</span>
              <button type="button" disabled={busy} onClick={() => void take(desk)} aria-label={`Take ${desk.label || desk.deviceId} in ${siteName(desk.siteId)}`}>
                Take
              </button>
            </li>
          ))}
        </ul>
      )}
    </Section>
  )
}

function ChangePin({ needsOld }: { needsOld: boolean }) {
  const [oldPin, setOldPin] = useState('')
  const [newPin, setNewPin] = useState('')
  const [again, setAgain] = useState('')
  const [notice, setNotice] = useState<Notice | undefined>(undefined)
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault()
    if (newPin !== again) {
      setNotice({ kind: 'error', text: 'The two new PINs differ', field: 'again' })
      return
    }
    try {
      await post('/api/pin', { oldPin, newPin })
      setOldPin('')
      setNewPin('')
      setAgain('')
      setNotice({ kind: 'ok', text: 'PIN changed: use it at the phones from now on' })
    } catch (error) {
      setNotice(noticeOf(error))
    }
  }
  return (
    <Section id="pin" title={needsOld ? 'Change your PIN' : 'Set your PIN'}>
      <form onSubmit={submit} aria-describedby="pin-message">
        {needsOld ? <Field id="old-pin" name="oldPin" label="Current PIN" type="password" inputMode="numeric" pattern="[0-9]{4,12}" autoComplete="current-password" value={oldPin} onInput={setOldPin} notice={notice} messageId="pin-message" required={false} /> : null}
        <Field id="new-pin" name="newPin" label="New PIN" hint="4 to 12 digits" type="password" inputMode="numeric" pattern="[0-9]{4,12}" autoComplete="new-password" value={newPin} onInput={setNewPin} notice={notice} messageId="pin-message" />
        <Field id="again-pin" name="again" label="New PIN again" type="password" inputMode="numeric" pattern="[0-9]{4,12}" autoComplete="new-password" value={again} onInput={setAgain} notice={notice} messageId="pin-message" />
        <button type="submit">{needsOld ? 'Change PIN' : 'Set PIN'}</button>
        <Message notice={notice} id="pin-message" />
      </form>
    </Section>
  )
}

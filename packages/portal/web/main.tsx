// The portal's front end: `/` the workers' page, `/admin` the administrators'. One page each:
// sign in, then the page; signing out (or a session that ended) brings the sign-in back.
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { AdminPage } from './admin'
import { currentSession, post, type SessionInfo } from './api'
import { Message, noticeOf, type Notice, SignIn } from './components'
import { WorkerPage } from './worker'

const scope: 'worker' | 'admin' = location.pathname.startsWith('/admin') ? 'admin' : 'worker'

function App() {
  const [session, setSession] = useState<SessionInfo | undefined | null>(undefined)
  const [notice, setNotice] = useState<Notice | undefined>(undefined)
  useEffect(() => {
    currentSession().then(
      (s) => setSession(s !== undefined && s.scope === scope ? s : null),
      (error: unknown) => {
        setNotice(noticeOf(error))
        setSession(null)
      },
    )
  }, [])
  const signedOut = (why?: string): void => {
    setSession(null)
    setNotice(why === undefined ? undefined : { kind: 'error', text: why })
  }
  const signOut = async (): Promise<void> => {
    await post('/api/session/end').catch(() => undefined)
    signedOut()
    setNotice({ kind: 'ok', text: 'Signed out' })
  }
  useEffect(() => {
    document.title = scope === 'admin' ? 'flexseat · administration' : 'flexseat · my desk'
  }, [])
  return (
    <>
      <header class="top">
        <p class="brand">
          <a href={scope === 'admin' ? '/admin' : '/'}>flexseat</a> <span>{scope === 'admin' ? 'administration' : 'my desk'}</span>
        </p>
        {session ? (
          <nav aria-label="Account">
            <span class="who">{session.name}</span>
            <button type="button" onClick={() => void signOut()}>Sign out</button>
          </nav>
        ) : null}
      </header>
      <main id="main">
        {scope === 'admin' && session ? <h1 class="visually-hidden">Administration</h1> : null}
        <Message notice={notice} id="app-message" />
        {session === undefined ? <p role="status">Loading…</p> : session === null ? (
          <SignIn scope={scope} onSignedIn={(s) => {
            setNotice(undefined)
            setSession(s.scope === scope ? s : null)
            if (s.scope !== scope) setNotice({ kind: 'error', text: scope === 'admin' ? 'That is a worker\'s sign-in: administrators sign in here' : 'That is an administrator\'s sign-in: use /admin' })
          }} />
        ) : scope === 'admin' ? (
          <AdminPage session={session} onSignedOut={signedOut} />
        ) : (
          <WorkerPage session={session} onSignedOut={signedOut} />
        )}
      </main>
      <footer class="bottom"><p>flexseat · hot desking across branches</p></footer>
    </>
  )
}

render(<App />, document.getElementById('app')!)

// Small pieces both pages use: a message line, a labelled field, the sign-in forms.
import type { ComponentChildren } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { ApiError, post, type SessionInfo, useCsrfToken } from './api'

/** What a form says after a submit: an error (with the field at fault) or a confirmation. */
export interface Notice {
  kind: 'error' | 'ok'
  text: string
  field?: string
}

export function noticeOf(error: unknown): Notice {
  if (error instanceof ApiError) return { kind: 'error', text: error.message, ...(error.field === undefined ? {} : { field: error.field }) }
  return { kind: 'error', text: 'Something went wrong; try again' }
}

/** A form's message: read out at once (an alert for errors, a status for confirmations). */
export function Message({ notice, id }: { notice: Notice | undefined; id: string }) {
  if (notice === undefined) return <p id={id} class="message" role="status" aria-live="polite" />
  return (
    <p id={id} class={`message ${notice.kind}`} role={notice.kind === 'error' ? 'alert' : 'status'}>
      {notice.text}
    </p>
  )
}

/** A labelled input; marked invalid (and described by the form's message) when the notice names it. */
export function Field(props: {
  id: string
  name: string
  label: string
  hint?: string
  notice?: Notice | undefined
  messageId?: string
  type?: 'text' | 'password' | 'number'
  value: string
  onInput: (value: string) => void
  inputMode?: 'numeric' | 'text'
  pattern?: string
  autoComplete?: string
  required?: boolean
  min?: number
  max?: number
  disabled?: boolean
}) {
  const invalid = props.notice?.kind === 'error' && props.notice.field === props.name
  const hintId = props.hint === undefined ? undefined : `${props.id}-hint`
  const described = [hintId, invalid ? props.messageId : undefined].filter((x) => x !== undefined).join(' ') || undefined
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.hint === undefined ? null : (
        <span id={hintId} class="hint">
          {props.hint}
        </span>
      )}
      <input {...inputAttributes(props, invalid, described)} />
    </div>
  )
}

/** The input's attributes (one object: preact's typings tell input types apart, this field takes several). */
function inputAttributes(props: Parameters<typeof Field>[0], invalid: boolean, described: string | undefined): Record<string, unknown> {
  return {
    id: props.id,
    name: props.name,
    type: props.type ?? 'text',
    value: props.value,
    onInput: (e: Event) => props.onInput((e.currentTarget as HTMLInputElement).value),
    inputMode: props.inputMode,
    pattern: props.pattern,
    autoComplete: props.autoComplete,
    required: props.required ?? true,
    min: props.min,
    max: props.max,
    disabled: props.disabled,
    'aria-invalid': invalid ? 'true' : undefined,
    'aria-describedby': described,
  }
}

/** A section with a heading that labels it (a landmark region for screen readers). */
export function Section({ id, title, children }: { id: string; title: string; children: ComponentChildren }) {
  return (
    <section aria-labelledby={`${id}-title`} class="card">
      <h2 id={`${id}-title`}>{title}</h2>
      {children}
    </section>
  )
}

type Method = 'pin' | 'directory' | 'admin-token'

/**
 * Sign-in: a worker with extension and PIN or the company password; an administrator with an
 * administrator token or the company password. Focus goes to the first field; a refusal is read
 * out and its field marked.
 */
export function SignIn({ scope, onSignedIn }: { scope: 'worker' | 'admin'; onSignedIn: (session: SessionInfo) => void }) {
  const [method, setMethod] = useState<Method>(scope === 'worker' ? 'pin' : 'admin-token')
  const [extension, setExtension] = useState('')
  const [pin, setPin] = useState('')
  const [username, setUsername] = useState('')
  const [password, setPassword] = useState('')
  const [token, setToken] = useState('')
  const [notice, setNotice] = useState<Notice | undefined>(undefined)
  const [busy, setBusy] = useState(false)
  const first = useRef<HTMLHeadingElement>(null)
  useEffect(() => first.current?.focus(), [])
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault()
    setBusy(true)
    setNotice(undefined)
    try {
      const body =
        method === 'pin' ? { method, extension, pin } : method === 'directory' ? { method, username, password, scope } : { method, token }
      const session = await post<SessionInfo>('/api/session', body)
      useCsrfToken(session.csrfToken)
      setPin('')
      setPassword('')
      setToken('')
      onSignedIn(session)
    } catch (error) {
      setNotice(noticeOf(error))
    } finally {
      setBusy(false)
    }
  }
  const methods: [Method, string][] = scope === 'worker' ? [['pin', 'Extension and PIN'], ['directory', 'Company password']] : [['admin-token', 'Administrator token'], ['directory', 'Company password']]
  return (
    <section aria-labelledby="sign-in-title" class="card narrow">
      <h2 id="sign-in-title" tabIndex={-1} ref={first}>
        {scope === 'worker' ? 'Sign in' : 'Sign in as an administrator'}
      </h2>
      <fieldset class="choice">
        <legend>Sign in with</legend>
        {methods.map(([value, label]) => (
          <label key={value}>
            <input type="radio" name="method" value={value} checked={method === value} onChange={() => setMethod(value)} /> {label}
          </label>
        ))}
      </fieldset>
      {/* Keys: each method's inputs are its own (reusing the PIN's input for the password would keep its digits-only pattern). */}
      <form onSubmit={submit} aria-describedby="sign-in-message" noValidate={false}>
        {method === 'pin' ? (
          <>
            <Field key="extension" id="extension" name="extension" label="Extension" hint="2 to 15 digits" inputMode="numeric" pattern="[0-9]{2,15}" autoComplete="username" value={extension} onInput={setExtension} notice={notice} messageId="sign-in-message" />
            <Field key="pin" id="pin" name="pin" label="PIN" hint="4 to 12 digits" type="password" inputMode="numeric" pattern="[0-9]{4,12}" autoComplete="current-password" value={pin} onInput={setPin} notice={notice} messageId="sign-in-message" />
          </>
        ) : method === 'directory' ? (
          <>
            <Field key="username" id="username" name="username" label="Username" autoComplete="username" value={username} onInput={setUsername} notice={notice} messageId="sign-in-message" />
            <Field key="password" id="password" name="password" label="Password" type="password" autoComplete="current-password" value={password} onInput={setPassword} notice={notice} messageId="sign-in-message" />
          </>
        ) : (
          <Field key="token" id="token" name="token" label="Administrator token" type="password" autoComplete="off" value={token} onInput={setToken} notice={notice} messageId="sign-in-message" />
        )}
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <Message notice={notice} id="sign-in-message" />
      </form>
      <p class="aside">{scope === 'worker' ? <a href="/admin">Administrators: sign in here</a> : <a href="/">Workers: sign in here</a>}</p>
    </section>
  )
}

// The page's calls to its own portal: JSON over fetch, the CSRF token on every change, the
// portal's refusals as ApiError (words for a person, the field at fault).

/** A refused request, as the portal explains it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message)
  }
}

let csrf: string | undefined

/** Keeps the token a sign-in answered with. */
export function useCsrfToken(token: string | undefined): void {
  if (token !== undefined) csrf = token
}

async function csrfToken(): Promise<string> {
  csrf ??= (await get<{ csrfToken: string }>('/api/csrf')).csrfToken
  return csrf
}

async function answer<T>(response: Response): Promise<T> {
  if (response.status === 204) return undefined as T
  const body = (await response.json().catch(() => ({}))) as { message?: string; code?: string; field?: string }
  if (!response.ok) throw new ApiError(response.status, body.code ?? 'ERROR', body.message ?? `The portal answered ${response.status}`, body.field)
  return body as T
}

/** GET a JSON resource. */
export async function get<T>(path: string): Promise<T> {
  let response: Response
  try {
    response = await fetch(path, { headers: { accept: 'application/json' }, credentials: 'same-origin' })
  } catch {
    throw new ApiError(0, 'NETWORK', 'The portal cannot be reached; check the connection')
  }
  return answer<T>(response)
}

/** POST JSON (a change): with the CSRF token, asked for again once when the portal says it is stale. */
export async function post<T>(path: string, body?: unknown): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    let response: Response
    try {
      response = await fetch(path, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { accept: 'application/json', 'x-csrf-token': await csrfToken(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
    } catch {
      throw new ApiError(0, 'NETWORK', 'The portal cannot be reached; check the connection')
    }
    if (response.status === 403 && attempt === 0) {
      const copy = response.clone()
      const refused = (await copy.json().catch(() => ({}))) as { code?: string }
      if (refused.code === 'CSRF') {
        csrf = undefined
        continue
      }
    }
    return answer<T>(response)
  }
}

/** What the portal says about the person signed in. */
export interface SessionInfo {
  scope: 'worker' | 'admin'
  userId: string
  name: string
  expiresAt: string
  csrfToken?: string
}

/** The session, or undefined when nobody is signed in (or it ended). */
export async function currentSession(): Promise<SessionInfo | undefined> {
  try {
    return await get<SessionInfo>('/api/session')
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return undefined
    throw error
  }
}

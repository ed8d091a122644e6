/**
 * The REST side of the console: login, token refresh, and the few reads it
 * needs. Tokens live in sessionStorage (this tab only); a 401 refreshes the
 * access token once and retries.
 */
export interface Tokens { accessToken: string; refreshToken: string }

export interface TrackPoint { ts: string; lat: number; lon: number; speed: number | null; heading: number | null }

const KEY = 'fleetpulse.tokens'

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

async function problem(res: Response): Promise<ApiError> {
  const body = await res.json().catch(() => ({})) as { code?: string; detail?: string; title?: string }
  return new ApiError(res.status, body.code ?? 'error', body.detail ?? body.title ?? res.statusText)
}

export class Api {
  private tokens: Tokens | undefined
  private refreshing: Promise<boolean> | undefined
  onLoggedOut: () => void = () => {}

  constructor() {
    const saved = sessionStorage.getItem(KEY)
    this.tokens = saved ? JSON.parse(saved) as Tokens : undefined
  }

  get accessToken(): string | undefined {
    return this.tokens?.accessToken
  }

  private save(tokens: Tokens | undefined): void {
    this.tokens = tokens
    if (tokens) sessionStorage.setItem(KEY, JSON.stringify({ accessToken: tokens.accessToken, refreshToken: tokens.refreshToken }))
    else sessionStorage.removeItem(KEY)
  }

  async login(email: string, password: string): Promise<void> {
    const res = await fetch('/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) })
    if (!res.ok) throw await problem(res)
    this.save(await res.json() as Tokens)
    sessionStorage.setItem(`${KEY}.email`, email)
  }

  async logout(): Promise<void> {
    const refreshToken = this.tokens?.refreshToken
    this.save(undefined)
    if (refreshToken) {
      await fetch('/api/v1/auth/logout', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken }) }).catch(() => undefined)
    }
    this.onLoggedOut()
  }

  /** One refresh at a time; false (and logged out) when the refresh token is spent or revoked. */
  refresh(): Promise<boolean> {
    this.refreshing ??= (async () => {
      const refreshToken = this.tokens?.refreshToken
      if (!refreshToken) return false
      const res = await fetch('/api/v1/auth/refresh', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken }) })
      if (!res.ok) {
        this.save(undefined)
        this.onLoggedOut()
        return false
      }
      this.save(await res.json() as Tokens)
      return true
    })().finally(() => { this.refreshing = undefined })
    return this.refreshing
  }

  async get<T>(url: string): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(url, { headers: { authorization: `Bearer ${this.tokens?.accessToken ?? ''}` } })
      if (res.status === 401 && attempt === 0 && await this.refresh()) continue
      if (!res.ok) throw await problem(res)
      return (res.status === 204 ? undefined : await res.json()) as T
    }
  }

  /** The vehicle's fixes since local midnight, every page. */
  async todaysTrack(vehicleId: string, max = 20_000): Promise<TrackPoint[]> {
    const from = new Date()
    from.setHours(0, 0, 0, 0)
    const points: TrackPoint[] = []
    let cursor: string | null = null
    do {
      const q = new URLSearchParams({ from: from.toISOString(), limit: '5000' })
      if (cursor) q.set('cursor', cursor)
      const page: { items: TrackPoint[]; nextCursor: string | null } = await this.get(`/api/v1/vehicles/${vehicleId}/track?${q}`)
      points.push(...page.items)
      cursor = page.nextCursor
    } while (cursor && points.length < max)
    return points
  }

  /** Who is logged in, for the header: the email given at login and the role the access token names. */
  whoami(): string {
    const token = this.tokens?.accessToken
    if (!token) return ''
    try {
      const claims = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { role?: string }
      return `${sessionStorage.getItem(`${KEY}.email`) ?? ''} · ${claims.role ?? ''}`
    } catch {
      return ''
    }
  }
}

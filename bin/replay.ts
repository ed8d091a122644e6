/**
 * `fleetpulse replay`: asks a running API to recompute the stream analytics of
 * some vehicles from a time on (POST /api/v1/analytics/replays), then shows the
 * progress until the stream process that runs it is done. Through the API, it
 * works the same whether chDB is embedded in that process or a server.
 */
import { parseArgs } from 'node:util'

export const REPLAY_USAGE = `usage: fleetpulse replay --from <ISO time> [--vehicle <id> ...] [--api <url>]

  --from      recompute from the last checkpoint before this time on
  --vehicle   a vehicle id (repeatable); default: every vehicle of the organization
  --api       the API's base URL (default http://127.0.0.1:$PORT, PORT defaulting to 3000)

Credentials: FLEETPULSE_TOKEN (an access token), or FLEETPULSE_EMAIL and
FLEETPULSE_PASSWORD of a user with the analytics:manage permission.`

interface Replay { id: string; status: string; vehicles: number; vehiclesDone: number; fixesRead: number; error: string | null }

async function call<T>(method: string, url: string, token: string | undefined, body?: unknown): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : null,
  })
  const text = await res.text()
  const json = text ? (JSON.parse(text) as T & { detail?: string; code?: string }) : ({} as T & { detail?: string; code?: string })
  if (!res.ok) throw new Error(`${method} ${new URL(url).pathname}: ${res.status} ${json.code ?? ''} ${json.detail ?? text}`.trim())
  return json
}

/** Exit code: 0 done, 1 failed or refused, 2 usage. */
export async function replayCommand(args: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  let values
  try {
    ;({ values } = parseArgs({
      args,
      options: { from: { type: 'string' }, vehicle: { type: 'string', multiple: true }, api: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }))
  } catch (err) {
    console.error(`fleetpulse replay: ${(err as Error).message}\n\n${REPLAY_USAGE}`)
    return 2
  }
  if (values.help) {
    console.log(REPLAY_USAGE)
    return 0
  }
  if (!values.from || Number.isNaN(Date.parse(values.from))) {
    console.error(`fleetpulse replay: --from must be an ISO time\n\n${REPLAY_USAGE}`)
    return 2
  }
  const base = (values.api ?? `http://127.0.0.1:${env.PORT ?? 3000}`).replace(/\/$/, '')
  try {
    let token = env.FLEETPULSE_TOKEN
    if (!token) {
      if (!env.FLEETPULSE_EMAIL || !env.FLEETPULSE_PASSWORD) {
        console.error(`fleetpulse replay: set FLEETPULSE_TOKEN, or FLEETPULSE_EMAIL and FLEETPULSE_PASSWORD\n\n${REPLAY_USAGE}`)
        return 2
      }
      token = (await call<{ accessToken: string }>('POST', `${base}/api/v1/auth/login`, undefined, { email: env.FLEETPULSE_EMAIL, password: env.FLEETPULSE_PASSWORD })).accessToken
    }
    const body = { from: new Date(values.from).toISOString(), ...(values.vehicle?.length ? { vehicleIds: values.vehicle } : {}) }
    let replay = await call<Replay>('POST', `${base}/api/v1/analytics/replays`, token, body)
    console.log(`replay ${replay.id}: ${replay.vehicles} vehicle(s) from ${body.from}`)
    let shown = ''
    for (;;) {
      const line = `${replay.status}: ${replay.vehiclesDone}/${replay.vehicles} vehicles, ${replay.fixesRead} fixes read`
      if (line !== shown) console.log(line)
      shown = line
      if (replay.status === 'done') return 0
      if (replay.status === 'failed') {
        console.error(`fleetpulse replay: failed: ${replay.error ?? 'no reason given'}`)
        return 1
      }
      await new Promise((r) => setTimeout(r, 500))
      replay = await call<Replay>('GET', `${base}/api/v1/analytics/replays/${replay.id}`, token)
    }
  } catch (err) {
    console.error(`fleetpulse replay: ${(err as Error).message}`)
    return 1
  }
}

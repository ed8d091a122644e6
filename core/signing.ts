/**
 * Signed HTTP bodies, both ways (webhooks we send, callbacks we take): the
 * header `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. The
 * timestamp inside the MAC bounds replays to the tolerance window.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

export const SIGNATURE_HEADER = 'x-fleetpulse-signature'

export function signBody(secret: string, body: string, nowS = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac('sha256', secret).update(`${nowS}.${body}`).digest('hex')
  return `t=${nowS},v1=${mac}`
}

/** True when the header carries a MAC of this body by this secret, made within toleranceS of now. */
export function verifySignature(secret: string, header: string | undefined, body: string, toleranceS = 300, nowS = Math.floor(Date.now() / 1000)): boolean {
  if (!header) return false
  const parts = Object.fromEntries(header.split(',').map((p) => p.trim().split('=', 2) as [string, string]))
  const t = Number(parts.t)
  const given = parts.v1
  if (!Number.isInteger(t) || !given || !/^[0-9a-f]{64}$/.test(given) || Math.abs(nowS - t) > toleranceS) return false
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest()
  return timingSafeEqual(expected, Buffer.from(given, 'hex'))
}

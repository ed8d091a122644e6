/**
 * Background checks through a provider adapter. The default adapter POSTs the
 * request to a configurable webhook (signed like our other webhooks) and gets
 * back a reference; the provider later posts the result, signed with the same
 * shared secret, to POST /api/v1/drivers/background-check/callback.
 */
import { SIGNATURE_HEADER, signBody } from '../../core/signing.js'

export interface BackgroundCheckRequest {
  driverId: string
  orgId: string
  name: string
  licenceNumber: string | null
  callbackUrl: string
}

export interface BackgroundCheckProvider {
  /** Starts a check; resolves with the provider's reference for it. */
  request(check: BackgroundCheckRequest): Promise<{ reference: string }>
}

export class WebhookBackgroundCheckProvider implements BackgroundCheckProvider {
  constructor(private readonly url: string, private readonly secret: string, private readonly timeoutMs = 5000) {}

  async request(check: BackgroundCheckRequest): Promise<{ reference: string }> {
    const body = JSON.stringify(check)
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(this.secret, body) },
      body,
      signal: AbortSignal.timeout(this.timeoutMs),
    })
    if (!res.ok) throw new Error(`background-check provider answered ${res.status}`)
    const answer = (await res.json()) as { reference?: unknown }
    if (typeof answer.reference !== 'string' || answer.reference.length === 0 || answer.reference.length > 200) {
      throw new Error('background-check provider answered without a reference')
    }
    return { reference: answer.reference }
  }
}

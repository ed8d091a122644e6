/**
 * kafkajs 2.2.4 keeps every broker connection's request queue on a timer loop
 * once it has answered a request: `checkPendingRequests` always ends with
 * `scheduleCheckPendingRequests`, which, with nothing pending and no throttle,
 * computes a negative delay and sets a 1 ms timer that calls it again, for as
 * long as the connection lives (tulios/kafkajs#1556, #1604, #1704; the fix,
 * #1667, is not released). A fleetpulse process holds a connection per
 * consumer, producer and admin client, so an idle ingest woke about 1,600
 * times a second and an idle stream+api process spent a tenth of a core.
 *
 * The replacement schedules a check only while requests wait in the queue:
 * a request is queued only by `push()`, which schedules one, and a check that
 * leaves requests behind (throttled, or the in-flight limit) schedules the
 * next; an answer or a timeout checks again at once. That is the upstream
 * fix; nothing else of kafkajs changes.
 */
import { createRequire } from 'node:module'

/** kafkajs's own fallback interval while requests wait on the in-flight limit. */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10

interface RequestQueueLike {
  pending: unknown[]
  throttledUntil: number
  throttleCheckTimeoutId: NodeJS.Timeout | null
  checkPendingRequests(): void
  scheduleCheckPendingRequests(): void
}

function scheduleCheckPendingRequests(this: RequestQueueLike): void {
  if (this.throttleCheckTimeoutId || this.pending.length === 0) return
  const untilUnthrottled = this.throttledUntil - Date.now()
  this.throttleCheckTimeoutId = setTimeout(() => {
    this.throttleCheckTimeoutId = null
    this.checkPendingRequests()
  }, untilUnthrottled > 0 ? untilUnthrottled : CHECK_PENDING_REQUESTS_INTERVAL_MS)
}

/** Installs the replacement on kafkajs's RequestQueue (a second call changes nothing); returns that class, for tests. */
export function applyKafkajsIdleFix(): { prototype: RequestQueueLike } {
  const require = createRequire(import.meta.url)
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as { prototype: RequestQueueLike }
  if (typeof RequestQueue.prototype.scheduleCheckPendingRequests !== 'function') {
    throw new Error('kafkajs RequestQueue has no scheduleCheckPendingRequests: review core/bus/kafkajs-idle-fix.ts for this kafkajs version')
  }
  RequestQueue.prototype.scheduleCheckPendingRequests = scheduleCheckPendingRequests
  return RequestQueue
}

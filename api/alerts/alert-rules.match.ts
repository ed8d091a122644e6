/** Whether a live alert matches an alert rule: pure, so the semantics are easy to read and test. */
import type { AlertRule, OutsideHours, Severity } from '../../schemas/geofences.v1.js'
import type { LiveAlertV1 } from '../../schemas/topics.v1.js'

const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 }

const clocks = new Map<string, Intl.DateTimeFormat>()

/** Minutes since local midnight in the zone. */
export function localMinutes(ts: number, timeZone: string): number {
  let clock = clocks.get(timeZone)
  if (!clock) {
    clock = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
    clocks.set(timeZone, clock)
  }
  const parts = clock.formatToParts(new Date(ts))
  const hour = Number(parts.find((p) => p.type === 'hour')?.value)
  const minute = Number(parts.find((p) => p.type === 'minute')?.value)
  return hour * 60 + minute
}

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5))

/** [from, to) in local time; from > to spans midnight; from == to is empty. */
export function withinHours(ts: number, window: OutsideHours): boolean {
  const m = localMinutes(ts, window.timeZone)
  const from = minutesOf(window.from)
  const to = minutesOf(window.to)
  if (from === to) return false
  return from < to ? m >= from && m < to : m >= from || m < to
}

export function matches(rule: AlertRule, alert: LiveAlertV1): boolean {
  if (!rule.active || rule.kind !== alert.kind) return false
  if (rule.geofenceId !== null && rule.geofenceId !== alert.geofenceId) return false
  if (RANK[alert.severity] < RANK[rule.minSeverity as Severity]) return false
  if (rule.outsideHours && withinHours(alert.ts, rule.outsideHours as OutsideHours)) return false
  return true
}

/**
 * The alert-rule evaluator: reads live.alerts.v1 under one consumer group
 * shared by every API process (`api-alert-rules`), so each alert is evaluated
 * once across the cluster, matches it against its organization's active rules
 * (cached for a few seconds), and notifies each matching rule's recipient.
 *
 * Exactly once per (rule, alert): the firing row and the notification commit in
 * one transaction, and a redelivered alert finds its firing row and notifies
 * nobody again.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type pg from 'pg'
import type { Logger } from 'pino'
import type { Bus, Subscription } from '../../core/bus/bus.js'
import { decodeBatch } from '../../core/bus/decode.js'
import type { AlertRule } from '../../schemas/geofences.v1.js'
import '../../schemas/formats.js'
import { LiveAlertV1, TOPICS, type AlertKind } from '../../schemas/topics.v1.js'
import { withTransaction } from '../db.js'
import type { Notifier } from '../notifications/notifications.module.js'
import { matches } from './alert-rules.match.js'
import type { AlertRulesRepository } from './alert-rules.repository.js'

export const ALERT_RULES_GROUP = 'api-alert-rules'

const checkAlert = TypeCompiler.Compile(LiveAlertV1)

const TITLES: Record<AlertKind, string> = {
  overspeed: 'Overspeed',
  harsh_acceleration: 'Harsh acceleration',
  harsh_braking: 'Harsh braking',
  harsh_cornering: 'Harsh cornering',
  idling: 'Idling',
  geofence_enter: 'Geofence entered',
  geofence_exit: 'Geofence left',
  geofence_dwell: 'Long stay in a geofence',
  device_event: 'Device event',
  device_offline: 'Device offline',
}

const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text)

/** An organization's active rules, reloaded after `ttlMs` (other API processes' changes) or at once after a change here. */
export class AlertRulesCache {
  private readonly entries = new Map<string, { at: number; rules: Promise<AlertRule[]> }>()

  constructor(
    private readonly rules: Pick<AlertRulesRepository, 'active'>,
    private readonly ttlMs: number,
  ) {}

  rulesOf(orgId: string): Promise<AlertRule[]> {
    const entry = this.entries.get(orgId)
    if (entry && Date.now() - entry.at < this.ttlMs) return entry.rules
    const rules = this.rules.active(orgId)
    this.entries.set(orgId, { at: Date.now(), rules })
    // A failed load is not kept: the next alert tries again.
    rules.catch(() => this.entries.delete(orgId))
    return rules
  }

  invalidate(orgId: string): void {
    this.entries.delete(orgId)
  }
}

export interface AlertRulesConsumerDeps {
  bus: Bus
  pool: pg.Pool
  rules: AlertRulesRepository
  cache: AlertRulesCache
  notifier: Notifier
  logger: Logger
}

export async function startAlertRulesConsumer(deps: AlertRulesConsumerDeps): Promise<Subscription> {
  const { bus, pool, rules, cache, notifier } = deps
  const log = deps.logger.child({ component: 'alert-rules' })
  await bus.ensureTopics([TOPICS.liveAlerts])

  async function fire(rule: AlertRule, alert: LiveAlertV1): Promise<boolean> {
    return withTransaction(pool, async (db) => {
      if (!(await rules.recordFiring(db, rule.id, alert.id))) return false
      const vehicle = (await rules.vehicleName(db, alert.orgId, alert.vehicleId)) ?? alert.vehicleId
      const at = new Date(alert.ts).toISOString()
      await notifier.notify({
        orgId: alert.orgId,
        recipient: rule.recipient,
        kind: `alert.${alert.kind}`,
        entity: { type: 'vehicle', id: alert.vehicleId },
        title: cut(`${TITLES[alert.kind]}: ${vehicle}`, 200),
        body: cut(`${alert.message}\n${alert.severity} at ${at} (rule "${rule.name}")`, 4000),
        data: {
          alertId: alert.id, ruleId: rule.id, ruleName: rule.name, kind: alert.kind, severity: alert.severity, ts: at,
          lat: alert.lat, lon: alert.lon, geofenceId: alert.geofenceId, driverId: alert.driverId,
        },
      }, db)
      return true
    })
  }

  // From now on: a first start does not notify about alerts from before it existed.
  return bus.subscribe(
    { topic: TOPICS.liveAlerts, groupId: ALERT_RULES_GROUP, fromBeginning: false, maxBatchSize: 200, maxWaitMs: 0 },
    async (batch) => {
      const alerts = decodeBatch(batch, checkAlert, (m) => log.error({ partition: m.partition, offset: m.offset }, 'malformed message on live.alerts.v1; skipped'))
      for (const alert of alerts) {
        for (const rule of (await cache.rulesOf(alert.orgId)).filter((r) => matches(r, alert))) {
          // A failure throws: the batch is redelivered, and the firings already committed keep those rules quiet.
          if (await fire(rule, alert)) log.info({ orgId: alert.orgId, ruleId: rule.id, alertId: alert.id, kind: alert.kind }, 'alert rule fired')
        }
      }
    },
  )
}

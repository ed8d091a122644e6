import { Counter, Gauge, type Registry } from 'prom-client'

export function createIngestMetrics(registry: Registry) {
  /**
   * Counts taken on every PUBLISH, kept as plain numbers and added to their
   * counters when /metrics is read: prom-client's inc() builds a label key on
   * every call, which was 1 % of the embedded main thread.
   */
  const perPublish = { accepted: 0, fixes: 0 }
  return {
    perPublish,
    connections: new Counter({
      name: 'fleetpulse_ingest_connections_total',
      help: 'MQTT CONNECT attempts by result',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    connected: new Gauge({
      name: 'fleetpulse_ingest_connected_devices',
      help: 'Devices connected to this ingest process',
      registers: [registry],
    }),
    messages: new Counter({
      name: 'fleetpulse_ingest_messages_total',
      help: 'MQTT PUBLISH packets received, by result',
      labelNames: ['result'] as const,
      registers: [registry],
      collect() {
        if (perPublish.accepted > 0) this.inc({ result: 'accepted' }, perPublish.accepted)
        perPublish.accepted = 0
      },
    }),
    fixesPublished: new Counter({
      name: 'fleetpulse_ingest_fixes_published_total',
      help: 'Valid fixes handed to the bus (telemetry.positions.v1)',
      registers: [registry],
      collect() {
        if (perPublish.fixes > 0) this.inc(perPublish.fixes)
        perPublish.fixes = 0
      },
    }),
    eventsPublished: new Counter({
      name: 'fleetpulse_ingest_events_published_total',
      help: 'Valid device events handed to the bus (telemetry.events.v1)',
      registers: [registry],
    }),
    controlDisconnects: new Counter({
      name: 'fleetpulse_ingest_control_disconnects_total',
      help: 'Devices disconnected because they were revoked, rotated or rebound',
      labelNames: ['action'] as const,
      registers: [registry],
    }),
    fixesInvalid: new Counter({
      name: 'fleetpulse_ingest_invalid_total',
      help: 'Rejected telemetry (fixes and device events) sent to telemetry.dlq.v1, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
  }
}
export type IngestMetrics = ReturnType<typeof createIngestMetrics>

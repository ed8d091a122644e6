/** One Prometheus registry per process, owned by the composition root; services register their own metrics on it. */
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { Bus } from './bus/bus.js'

export function createMetricsRegistry(): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'fleetpulse_' })
  return registry
}

export type { Registry }

/** Consumer lag per topic and group, read from the bus at scrape time. */
export function registerBusMetrics(registry: Registry, bus: Bus): void {
  new Gauge({
    name: 'fleetpulse_bus_consumer_lag',
    help: 'Messages published but not yet committed, by topic and consumer group',
    labelNames: ['topic', 'group'] as const,
    registers: [registry],
    collect() {
      this.reset()
      for (const l of bus.lag()) this.set({ topic: l.topic, group: l.groupId }, l.lag)
    },
  })
}

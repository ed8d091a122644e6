/** Reads fleetpulse's Prometheus endpoint (GET /metrics on the API port). */
/** Counters the bench follows; see stream/positions.processor.ts and core/metrics.ts. */
export const WRITTEN = 'fleetpulse_stream_positions_written_total'
export const LIVE_PUBLISHED = 'fleetpulse_stream_live_published_total'
export const WRITE_FAILURES = 'fleetpulse_stream_write_failures_total'
/** Seconds sink batches spent per stage (histogram: _sum, _count by stage). */
export const SINK_STAGE = 'fleetpulse_stream_sink_stage_seconds'
export const CONSUMER_LAG = 'fleetpulse_bus_consumer_lag'

export type Scrape = Map<string, number>

/** Every sample of the text exposition, keyed by `name{labels}` as printed. */
export async function scrape(apiUrl: string): Promise<Scrape> {
  const res = await fetch(`${apiUrl}/metrics`, { signal: AbortSignal.timeout(5000) })
  if (!res.ok) throw new Error(`GET ${apiUrl}/metrics: HTTP ${res.status}`)
  const samples: Scrape = new Map()
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const cut = line.lastIndexOf(' ')
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)))
  }
  return samples
}

/** Sum of a metric over all its label sets (0 when absent). */
export function total(samples: Scrape, name: string, labelFilter?: RegExp): number {
  let sum = 0
  for (const [key, value] of samples) {
    if (key !== name && !key.startsWith(`${name}{`)) continue
    if (labelFilter && !labelFilter.test(key)) continue
    sum += value
  }
  return sum
}

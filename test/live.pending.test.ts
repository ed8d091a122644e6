/** What a socket is owed while it waits for a snapshot or is backed up (api/live/live.pending.ts). */
import { describe, expect, it } from 'vitest'
import { Pending } from '../api/live/live.pending.js'
import type { LiveAlert } from '../schemas/live.v1.js'

const alert = (id: string): LiveAlert => ({
  id, vehicleId: 'v', kind: 'overspeed', severity: 'warning', ts: '2026-11-21T10:00:00.000Z', lat: 52.5, lon: 13.4,
  message: id, geofenceId: null, driverId: null,
})

describe('Pending', () => {
  it('drops, at the snapshot, the alerts the snapshot lists, and keeps the others', () => {
    const owed = new Pending(10)
    for (const id of ['a', 'b', 'c']) owed.addAlert(alert(id))
    owed.clearState([alert('a'), alert('c'), alert('z')])
    expect(owed.take().alerts.map((a) => a.id)).toEqual(['b'])
  })

  it('keeps at most alertCap alerts, counting the ones dropped', () => {
    const owed = new Pending(2)
    for (const id of ['a', 'b', 'c']) owed.addAlert(alert(id))
    const batch = owed.take()
    expect(batch.alerts.map((a) => a.id)).toEqual(['b', 'c'])
    expect(batch.droppedAlerts).toBe(1)
  })
})

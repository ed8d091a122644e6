/**
 * Documents of drivers and vehicles over real HTTP multipart: type decided by
 * content, size limit, download, organization scoping, the owner's timeline,
 * and expiry reminders 30 and 7 days ahead, sent once each.
 */
import { createHash, randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, login, startTestPlatform, tokenForRole, waitFor, type TestPlatform } from './helpers/platform.js'

const MAX = 64 * 1024
let platform: TestPlatform
let base: string
let admin: string
let manager: string

beforeAll(async () => {
  platform = await startTestPlatform({ DOCUMENT_MAX_BYTES: String(MAX), DOCUMENT_REMINDER_INTERVAL_S: '1' })
  base = platform.apiUrl
  admin = await login(base)
  manager = await tokenForRole(base, admin, 'fleet_manager')
})
afterAll(async () => {
  await platform?.close()
})

const PDF = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(2000, 0x20), Buffer.from('\n%%EOF\n')])
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(100, 1)])
const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10)

async function upload(path: string, query: string, content: Buffer, opts: { name?: string; type?: string; token?: string } = {}) {
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(content)], { type: opts.type ?? 'application/octet-stream' }), opts.name ?? 'scan.pdf')
  const res = await fetch(`${base}${path}?${query}`, { method: 'POST', body: form, headers: { authorization: `Bearer ${opts.token ?? admin}` } })
  return { status: res.status, body: await res.json() as any }
}
const newDriver = async () => (await api(base, 'POST', '/api/v1/drivers', { token: admin, body: { name: `Doc driver ${randomUUID().slice(0, 4)}` } })).body.id as string
const newVehicle = async () => (await api(base, 'POST', '/api/v1/vehicles', { token: admin, body: { name: `Doc van ${randomUUID().slice(0, 4)}` } })).body.id as string

describe('documents', () => {
  it('stores a driver licence, lists it, and serves the same bytes back', async () => {
    const driver = await newDriver()
    const res = await upload(`/api/v1/drivers/${driver}/documents`, `kind=licence&expiresOn=${day(400)}`, PDF, { name: 'licence front.pdf', type: 'image/png' })
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    expect(res.body).toMatchObject({
      ownerType: 'driver', ownerId: driver, kind: 'licence', filename: 'licence front.pdf', contentType: 'application/pdf',
      sizeBytes: PDF.length, sha256: createHash('sha256').update(PDF).digest('hex'), expiresOn: day(400),
    })
    const list = await api(base, 'GET', `/api/v1/drivers/${driver}/documents`, { token: admin })
    expect(list.body.items.map((d: { id: string }) => d.id)).toEqual([res.body.id])
    const file = await fetch(`${base}/api/v1/drivers/${driver}/documents/${res.body.id}/content`, { headers: { authorization: `Bearer ${admin}` } })
    expect(file.status).toBe(200)
    expect(file.headers.get('content-type')).toBe('application/pdf')
    expect(file.headers.get('content-disposition')).toBe("attachment; filename*=UTF-8''licence%20front.pdf")
    expect(Buffer.from(await file.arrayBuffer()).equals(PDF)).toBe(true)
    const log = await api(base, 'GET', `/api/v1/drivers/${driver}/log`, { token: admin })
    expect(log.body.items.map((e: { action: string }) => e.action)).toContain('document.upload')
  })

  it('takes a vehicle registration as PNG and refuses what is no PDF, JPEG or PNG (415) or too big (413)', async () => {
    const vehicle = await newVehicle()
    expect((await upload(`/api/v1/vehicles/${vehicle}/documents`, 'kind=registration', PNG, { name: 'reg.png' })).body.contentType).toBe('image/png')
    const text = await upload(`/api/v1/vehicles/${vehicle}/documents`, 'kind=insurance', Buffer.from('just text, named like a pdf'), { name: 'x.pdf', type: 'application/pdf' })
    expect(text.status).toBe(415)
    const big = await upload(`/api/v1/vehicles/${vehicle}/documents`, 'kind=insurance', Buffer.concat([PDF, Buffer.alloc(MAX)]))
    expect(big.status).toBe(413)
    expect((await upload(`/api/v1/vehicles/${vehicle}/documents`, 'kind=passport', PDF)).status).toBe(400)
    const json = await api(base, 'POST', `/api/v1/vehicles/${vehicle}/documents?kind=other`, { token: admin, body: { file: 'x' } })
    expect(json.status).toBe(415)
    const list = await api(base, 'GET', `/api/v1/vehicles/${vehicle}/documents`, { token: admin })
    expect(list.body.items).toHaveLength(1)
  })

  it("hides another organization's documents and refuses uploads to its records", async () => {
    const driver = await newDriver()
    const doc = (await upload(`/api/v1/drivers/${driver}/documents`, 'kind=certificate', PDF)).body
    const otherEmail = `doc-other-${randomUUID()}@example.com`
    await api(base, 'POST', '/api/v1/organizations', { token: admin, body: { name: 'Doc thieves', admin: { email: otherEmail, password: 'doc thief password' } } })
    const other = await login(base, otherEmail, 'doc thief password')
    expect((await api(base, 'GET', `/api/v1/drivers/${driver}/documents`, { token: other })).status).toBe(404)
    expect((await api(base, 'GET', `/api/v1/drivers/${driver}/documents/${doc.id}/content`, { token: other })).status).toBe(404)
    expect((await upload(`/api/v1/drivers/${driver}/documents`, 'kind=certificate', PDF, { token: other })).status).toBe(404)
  })

  it('reminds the fleet managers 30 and 7 days before expiry, once each', async () => {
    const vehicle = await newVehicle()
    const soon = (await upload(`/api/v1/vehicles/${vehicle}/documents`, `kind=insurance&expiresOn=${day(20)}`, PDF)).body
    const sooner = (await upload(`/api/v1/vehicles/${vehicle}/documents`, `kind=inspection&expiresOn=${day(3)}`, PDF)).body
    await upload(`/api/v1/vehicles/${vehicle}/documents`, `kind=registration&expiresOn=${day(90)}`, PDF)
    const reminders = async () => (await api(base, 'GET', '/api/v1/notifications?limit=200', { token: manager })).body.items
      .filter((n: { kind: string; entity: { id: string } }) => n.kind === 'document.expiring' && n.entity.id === vehicle)
    await waitFor(async () => ((await reminders()).length >= 2 ? true : undefined), { what: 'two reminders', timeoutMs: 20_000 })
    await new Promise((r) => setTimeout(r, 2500))
    const got = await reminders()
    expect(got.map((n: { title: string }) => n.title).sort()).toEqual([
      `The inspection of Doc van ${got[0].title.split('Doc van ')[1].split(' ')[0]} expires on ${day(3)}`,
      `The insurance of Doc van ${got[0].title.split('Doc van ')[1].split(' ')[0]} expires on ${day(20)}`,
    ].sort())
    expect(soon.id).not.toBe(sooner.id)
  })
})

/**
 * The document store contract on both implementations: the local disk, and an
 * S3-compatible store (s3rver, a real S3 HTTP server started here) through the
 * AWS SDK. Then the platform end to end with documents in S3.
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Readable, Transform } from 'node:stream'
import { text } from 'node:stream/consumers'
import S3rver from 's3rver'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalDocumentStore, S3DocumentStore, TooLargeError, type DocumentStore } from '../core/documents-store.js'
import { api, login, startTestPlatform, type TestPlatform } from './helpers/platform.js'

let s3: S3rver
let s3Dir: string
let endpoint: string

beforeAll(async () => {
  s3Dir = mkdtempSync(path.join(tmpdir(), 'fleetpulse-s3-'))
  s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: s3Dir, configureBuckets: [{ name: 'documents' }] })
  const { port } = await s3.run()
  endpoint = `http://127.0.0.1:${port}`
})
afterAll(async () => {
  await s3?.close()
})

const s3Options = () => ({
  bucket: 'documents', region: 'us-east-1', endpoint, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', forcePathStyle: true,
})
const stores: Array<[string, () => DocumentStore]> = [
  ['local disk', () => new LocalDocumentStore(mkdtempSync(path.join(tmpdir(), 'fleetpulse-docs-')))],
  ['S3', () => new S3DocumentStore(s3Options())],
]
const objectsInS3 = () => readdirSync(path.join(s3Dir, 'documents'), { recursive: true }).filter((f) => String(f).endsWith('._S3rver_object'))

describe.each(stores)('document store on %s', (name, make) => {
  it('stores, hashes and serves content back, and deletes it', async () => {
    const store = make()
    const content = 'x'.repeat(100_000)
    const stored = await store.put(Readable.from([Buffer.from(content)]), 1_000_000)
    expect(stored).toMatchObject({ size: 100_000, sha256: createHash('sha256').update(content).digest('hex') })
    expect(await text(store.get(stored.key))).toBe(content)
    await store.delete(stored.key)
    await expect(text(store.get(stored.key))).rejects.toThrow()
  })

  it('refuses content over the bound, or failing a check, and keeps nothing', async () => {
    const store = make()
    const before = name === 'S3' ? objectsInS3().length : 0
    await expect(store.put(Readable.from([Buffer.alloc(2048)]), 1024)).rejects.toBeInstanceOf(TooLargeError)
    const refuse = new Transform({ transform: (_c, _e, done) => done(new Error('not ours')) })
    await expect(store.put(Readable.from([Buffer.from('abc')]), 1024, [refuse])).rejects.toThrow('not ours')
    if (name === 'S3') expect(objectsInS3().length).toBe(before)
  })
})

describe('documents in S3, end to end', () => {
  let platform: TestPlatform
  beforeAll(async () => {
    platform = await startTestPlatform({
      S3_BUCKET: 'documents', S3_ENDPOINT: endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER',
    }, ['api'])
  })
  afterAll(async () => {
    await platform?.close()
  })

  it('uploads a document into the bucket and downloads it again', async () => {
    const token = await login(platform.apiUrl)
    const vehicle = (await api(platform.apiUrl, 'POST', '/api/v1/vehicles', { token, body: { name: 'S3 van' } })).body.id
    const pdf = Buffer.from('%PDF-1.7\nstored in a bucket\n%%EOF\n')
    const form = new FormData()
    form.append('file', new Blob([new Uint8Array(pdf)]), 'registration.pdf')
    const before = objectsInS3().length
    const up = await api(platform.apiUrl, 'POST', `/api/v1/vehicles/${vehicle}/documents?kind=registration`, { token, body: form })
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    expect(objectsInS3().length).toBe(before + 1)
    const res = await fetch(`${platform.apiUrl}/api/v1/vehicles/${vehicle}/documents/${up.body.id}/content`, { headers: { authorization: `Bearer ${token}` } })
    expect(res.status).toBe(200)
    expect(Buffer.from(await res.arrayBuffer()).equals(pdf)).toBe(true)
  })
})

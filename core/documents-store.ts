/**
 * Where document content lives. The default store is the local disk under
 * DATA_DIR/documents: each file is written to a temporary name, hashed while it
 * streams, and renamed into place only when complete, so a half-written upload
 * is never served.
 */
import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

export interface StoredObject {
  key: string
  size: number
  sha256: string
}

export interface DocumentStore {
  /**
   * Stores the stream, passed through `checks` first, under a new key; rejects
   * (and keeps nothing) when a check fails or the content exceeds maxBytes.
   */
  put(content: Readable, maxBytes: number, checks?: Transform[]): Promise<StoredObject>
  get(key: string): Readable
  delete(key: string): Promise<void>
}

export class TooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`larger than ${maxBytes} bytes`)
    this.name = 'TooLargeError'
  }
}

const KEY = /^[0-9a-f]{2}\/[0-9a-f-]{36}$/

export class LocalDocumentStore implements DocumentStore {
  constructor(private readonly root: string) {}

  private file(key: string): string {
    if (!KEY.test(key)) throw new Error(`not a document key: ${key}`)
    return path.join(this.root, key)
  }

  async put(content: Readable, maxBytes: number, checks: Transform[] = []): Promise<StoredObject> {
    const id = randomUUID()
    const key = `${id.slice(0, 2)}/${id}`
    const final = this.file(key)
    const temp = `${final}.part`
    await mkdir(path.dirname(final), { recursive: true })
    const hash = createHash('sha256')
    let size = 0
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length
        if (size > maxBytes) return done(new TooLargeError(maxBytes))
        hash.update(chunk)
        done(null, chunk)
      },
    })
    try {
      await pipeline([content, ...checks, meter, createWriteStream(temp, { flags: 'wx', mode: 0o600 })])
      await rename(temp, final)
    } catch (err) {
      await rm(temp, { force: true })
      throw err
    }
    return { key, size, sha256: hash.digest('hex') }
  }

  get(key: string): Readable {
    return createReadStream(this.file(key))
  }

  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true })
  }
}

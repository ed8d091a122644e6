/**
 * Test isolation on the shared PostgreSQL and Kafka started by `npm run
 * test:all`: each platform gets a database of its own (dropped afterwards) and
 * a bus namespace of its own (deleted afterwards), so test files running in
 * parallel never see each other's rows, topics or consumer groups.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { deleteNamespace } from './kafka.js'

export interface ServiceEnv {
  env: Record<string, string>
  cleanup(): Promise<void>
}

function requireEnv(name: 'DATABASE_URL' | 'KAFKA_BROKERS'): string {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: start the services with scripts/services.sh up (npm run test:all does)`)
  return value
}

/** A fresh database on the server of DATABASE_URL; its owner must have CREATEDB. */
export async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = requireEnv('DATABASE_URL')
  const name = `fleetpulse_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    // Clean-up, not a check: a drop that still fails after a few tries (a
    // backend of another role on it, which FORCE may not end) leaves a scratch
    // database behind rather than failing the file that used it.
    drop: async () => {
      for (let attempt = 1; ; attempt++) {
        const c = new pg.Client({ connectionString: adminUrl })
        try {
          await c.connect()
          await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
          return
        } catch (err) {
          if (attempt >= 3) {
            console.warn(`could not drop the scratch database ${name}: ${(err as Error).message}`)
            return
          }
          await new Promise((r) => setTimeout(r, 500 * attempt))
        } finally {
          await c.end().catch(() => {})
        }
      }
    },
  }
}

export function uniqueNamespace(prefix = 'test'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`
}

export async function serviceEnv(): Promise<ServiceEnv> {
  const db = await freshDatabase()
  const brokers = requireEnv('KAFKA_BROKERS')
  const namespace = uniqueNamespace()
  return {
    env: { DATABASE_URL: db.url, KAFKA_BROKERS: brokers, BUS_NAMESPACE: namespace },
    cleanup: async () => {
      await Promise.all([db.drop(), deleteNamespace(brokers, namespace)])
    },
  }
}

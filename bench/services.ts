/**
 * The outside servers of the Kafka mode (started by `scripts/services.sh up`):
 * whether they answer, a throwaway PostgreSQL database per run, and removal of
 * the run's Kafka topics and groups (all under its BUS_NAMESPACE), so repeated
 * runs neither pile up data nor read each other's.
 */
import { randomBytes } from 'node:crypto'
import { Kafka, logLevel } from 'kafkajs'
import pg from 'pg'
import { settlesWithin } from '../core/settle.js'
import { portOpen } from './processes.js'

function hostPort(raw: string, defaultPort: number): { host: string; port: number } {
  const [host = '127.0.0.1', port] = raw.split(':')
  return { host, port: port ? Number(port) : defaultPort }
}

/** Undefined when Kafka and PostgreSQL accept connections, else why not. */
export async function servicesDown(kafkaBrokers: string, postgresUrl: string): Promise<string | undefined> {
  const kafka = hostPort(kafkaBrokers.split(',')[0] ?? '', 9092)
  const url = new URL(postgresUrl)
  const postgres = { host: url.hostname, port: Number(url.port || 5432) }
  const down: string[] = []
  if (!(await portOpen(kafka.host, kafka.port))) down.push(`Kafka (${kafka.host}:${kafka.port})`)
  if (!(await portOpen(postgres.host, postgres.port))) down.push(`PostgreSQL (${postgres.host}:${postgres.port})`)
  return down.length ? `${down.join(' and ')} not reachable (start the services with: bash scripts/services.sh up)` : undefined
}

export const runTag = () => randomBytes(4).toString('hex')

export interface ScratchDatabase {
  url: string
  drop(): Promise<void>
}

/** CREATE DATABASE under the admin URL's role (fleetpulse has CREATEDB); dropped, connections and all, afterwards. */
export async function createScratchDatabase(adminUrl: string, tag: string): Promise<ScratchDatabase> {
  const name = `fleetpulse_bench_${tag}`
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 })
    await client.connect()
    try {
      await client.query(sql)
    } finally {
      await client.end()
    }
  }
  await admin(`CREATE DATABASE ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}

/** Deletes the topics and consumer groups named `<namespace>.*`; best effort, bounded. */
export async function deleteKafkaNamespace(brokers: string, namespace: string): Promise<string> {
  const kafka = new Kafka({ clientId: 'fleetpulse-bench', brokers: brokers.split(','), logLevel: logLevel.NOTHING, retry: { retries: 2 } })
  const admin = kafka.admin()
  const prefix = `${namespace}.`
  let deleted = ''
  const work = (async () => {
    await admin.connect()
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix))
    if (groups.length) await admin.deleteGroups(groups)
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix))
    if (topics.length) await admin.deleteTopics({ topics, timeout: 10_000 })
    deleted = `deleted ${topics.length} topic(s) and ${groups.length} group(s) under ${prefix}`
  })()
  try {
    return (await settlesWithin(20_000, work)) ? deleted : `cleanup of ${prefix}* timed out`
  } catch (err) {
    return `cleanup of ${prefix}* failed: ${(err as Error).message}`
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}

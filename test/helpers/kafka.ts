/**
 * Kafka for the distributed tests:
 * - a private single-node KRaft broker (broker and controller in one JVM) on
 *   free loopback ports with a log directory of its own, which a test may stop
 *   and start again without disturbing the shared broker other files use;
 * - consumer-group lag, read the way an operator would (committed offsets
 *   against the partitions' ends);
 * - removal of a test's topics and groups (its namespace) from a cluster.
 * The jars are those scripts/services.sh resolved (FLEETPULSE_CACHE, default
 * ~/.cache/fleetpulse); the broker runs with the machine's Java (17).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { homedir, tmpdir } from 'node:os'
import path from 'node:path'
import { Kafka, logLevel, type Admin } from 'kafkajs'
import { kafkaSecurity } from '../../core/bus/kafka.bus.js'
import type { KafkaSecurity } from '../../core/config.js'

export const KAFKA_VERSION = '3.9.1'
const KAFKA_LIBS = path.join(process.env.FLEETPULSE_CACHE ?? path.join(homedir(), '.cache', 'fleetpulse'), `kafka-${KAFKA_VERSION}`, 'libs')
const OUTPUT_LIMIT = 128 * 1024

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** A port nothing listens on right now (the kernel's pick), for a server that cannot be told to use port 0. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** SASL/PLAIN credentials of a private broker that requires them. */
export interface PlainCredentials {
  username: string
  password: string
}

/** The platform's own security settings for a private broker's SASL/PLAIN user, trusting its certificate (PEM) if it has TLS. */
export function plainSecurity(sasl: PlainCredentials, ca: string | undefined): KafkaSecurity {
  return { tls: ca === undefined ? false : { ca }, sasl: { mechanism: 'plain', ...sasl } }
}

/** An admin client that gives up quickly: the tests ask, they do not wait out an outage. */
export async function withAdmin<T>(brokers: string, fn: (admin: Admin) => Promise<T>, security?: KafkaSecurity): Promise<T> {
  const kafka = new Kafka({
    clientId: 'fleetpulse-test', brokers: brokers.split(','), logLevel: logLevel.NOTHING, ...kafkaSecurity(security),
    connectionTimeout: 2000, requestTimeout: 5000, retry: { retries: 2, initialRetryTime: 200 },
  })
  const admin = kafka.admin()
  await admin.connect()
  try {
    return await fn(admin)
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

/**
 * Messages on `topic` that `groupId` has not committed yet, summed over the
 * partitions. A partition the group never committed on counts whole, so a
 * group that has not started yet is "behind", never "done".
 */
export async function groupLag(brokers: string, groupId: string, topic: string): Promise<number> {
  return withAdmin(brokers, async (admin) => {
    const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })])
    const done = new Map(committed[0]?.partitions.map((p) => [p.partition, Number(p.offset)]) ?? [])
    let lag = 0
    for (const end of ends) {
      const c = done.get(end.partition) ?? -1
      lag += Math.max(0, Number(end.high) - Math.max(0, c))
    }
    return lag
  })
}

/** Messages a topic holds (sum over its partitions). */
export async function topicMessages(brokers: string, topic: string): Promise<number> {
  return withAdmin(brokers, async (admin) =>
    (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0))
}

/** Deletes every topic and consumer group of a bus namespace (best effort: a test's leftovers on a shared cluster). */
export function deleteNamespace(brokers: string, namespace: string): Promise<void> {
  const prefix = `${namespace}.`
  return deleteMatching(brokers, (name) => name.startsWith(prefix))
}

/**
 * Deletes the topics and consumer groups whose names match (best effort). A
 * test topic left on the shared broker costs it a directory per partition
 * for good, and thousands of them slow the broker down.
 */
export async function deleteMatching(brokers: string, matches: (name: string) => boolean): Promise<void> {
  await withAdmin(brokers, async (admin) => {
    const topics = (await admin.listTopics()).filter(matches)
    const { groups } = await admin.listGroups()
    const groupIds = groups.map((g) => g.groupId).filter(matches)
    if (groupIds.length) await admin.deleteGroups(groupIds).catch(() => {})
    if (topics.length) await admin.deleteTopics({ topics, timeout: 10_000 })
  }).catch(() => {})
}

export interface PrivateKafka {
  /** host:port, the value of KAFKA_BROKERS. */
  readonly brokers: string
  /** With `tls`: the file of the broker's self-signed certificate, for KAFKA_SSL_CA_FILE. */
  readonly caFile: string | undefined
  readonly running: boolean
  /** Starts the broker (again, on the same ports and data) and waits until it answers metadata requests. */
  start(): Promise<void>
  /** Graceful stop (SIGTERM; SIGKILL if it takes longer than timeoutMs). */
  stop(timeoutMs?: number): Promise<void>
  /** The broker's own log (warnings and errors), for failure messages. */
  output(): string
  /** Stops the broker and removes its data. */
  dispose(): Promise<void>
}

export function kafkaAvailable(): string | undefined {
  if (!existsSync(path.join(KAFKA_LIBS, `kafka_2.13-${KAFKA_VERSION}.jar`))) {
    return `Kafka ${KAFKA_VERSION} jars not found in ${KAFKA_LIBS}: run scripts/services.sh up once`
  }
  if (spawnSync('java', ['-version']).status !== 0) return 'java is not installed (Kafka needs Java 17)'
  return undefined
}

/**
 * Formats a fresh KRaft log directory on two free ports and starts the broker.
 * With `sasl`, its client listener takes SASL/PLAIN only and knows that one
 * user; with `tls` too, over TLS, with a self-signed certificate for 127.0.0.1
 * made by openssl (`caFile`).
 */
export async function startPrivateKafka(options: { sasl?: PlainCredentials; tls?: boolean } = {}): Promise<PrivateKafka> {
  const missing = kafkaAvailable()
  if (missing) throw new Error(missing)
  const dir = mkdtempSync(path.join(tmpdir(), 'fleetpulse-kafka-'))
  const port = await freePort()
  const controllerPort = await freePort()
  const brokers = `127.0.0.1:${port}`
  const properties = path.join(dir, 'server.properties')
  const { sasl } = options
  if (options.tls && !sasl) throw new Error('a private Kafka with TLS takes SASL too')
  const listener = sasl ? (options.tls ? 'SASL_SSL' : 'SASL_PLAINTEXT') : 'PLAINTEXT'
  const quoted = (v: string) => JSON.stringify(v)
  let caFile: string | undefined
  const tlsProperties: string[] = []
  if (options.tls) {
    caFile = path.join(dir, 'broker-cert.pem')
    const keyFile = path.join(dir, 'broker-key.pem')
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', caFile, '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8', timeout: 60_000 })
    if (made.status !== 0) throw new Error(`openssl could not make the broker's certificate:\n${made.stderr}`)
    // A PEM keystore is the (PKCS#8) key followed by the certificate.
    const keystore = path.join(dir, 'broker-keystore.pem')
    writeFileSync(keystore, readFileSync(keyFile, 'utf8') + readFileSync(caFile, 'utf8'))
    tlsProperties.push('ssl.keystore.type=PEM', `ssl.keystore.location=${keystore}`, 'ssl.truststore.type=PEM', `ssl.truststore.location=${caFile}`)
  }
  const jaasListener = listener.toLowerCase()
  writeFileSync(properties, [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=${listener}://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=${listener}://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    `listener.security.protocol.map=${listener}:${listener},CONTROLLER:PLAINTEXT`,
    `inter.broker.listener.name=${listener}`,
    ...(sasl
      ? [
          'sasl.enabled.mechanisms=PLAIN',
          'sasl.mechanism.inter.broker.protocol=PLAIN',
          ...tlsProperties,
          `listener.name.${jaasListener}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required `
            + `username=${quoted(sasl.username)} password=${quoted(sasl.password)} user_${sasl.username}=${quoted(sasl.password)};`,
        ]
      : []),
    `log.dirs=${path.join(dir, 'logs')}`,
    'num.partitions=4',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=4',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'min.insync.replicas=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    '',
  ].join('\n'))
  const log4j = path.join(dir, 'log4j.properties')
  writeFileSync(log4j, [
    'log4j.rootLogger=WARN, stdout',
    'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
    'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
    '',
  ].join('\n'))
  const classpath = `${KAFKA_LIBS}/*`
  // A KRaft cluster id is 16 random bytes in URL-safe base64 (22 characters).
  // Like Kafka's own Uuid.randomUuid(), never one that starts with '-', which
  // StorageTool's argument parser takes for an option (1 in 64 ids did).
  let clusterId: string
  do clusterId = randomBytes(16).toString('base64url')
  while (clusterId.startsWith('-'))
  const format = spawnSync('java', ['-cp', classpath, `-Dlog4j.configuration=file:${log4j}`, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', properties],
    { encoding: 'utf8', timeout: 60_000 })
  if (format.status !== 0) throw new Error(`kafka storage format failed:\n${format.stdout}${format.stderr}`)

  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  let out = ''
  const append = (d: Buffer | string) => {
    out += d
    if (out.length > OUTPUT_LIMIT) out = out.slice(-OUTPUT_LIMIT)
  }
  const killAtExit = () => child?.kill('SIGKILL')
  process.once('exit', killAtExit)

  const kafka: PrivateKafka = {
    brokers,
    caFile,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null
    },
    async start() {
      if (kafka.running) return
      append(`--- start ${new Date().toISOString()}\n`)
      const c = spawn('java', [
        '-Xms128m', '-Xmx512m', '-XX:+UseSerialGC', `-Dlog4j.configuration=file:${log4j}`, '-Djava.awt.headless=true',
        '-cp', classpath, 'kafka.Kafka', properties,
      ], { stdio: ['ignore', 'pipe', 'pipe'] })
      child = c
      c.stdout!.on('data', append)
      c.stderr!.on('data', append)
      exited = new Promise((resolve) => c.once('exit', (code, signal) => {
        append(`--- exited code=${code} signal=${signal} ${new Date().toISOString()}\n`)
        resolve()
      }))
      const deadline = Date.now() + 90_000
      for (;;) {
        if (!kafka.running) throw new Error(`private Kafka exited during start-up:\n${out}`)
        const security = sasl ? plainSecurity(sasl, caFile ? readFileSync(caFile, 'utf8') : undefined) : undefined
        const ok = await withAdmin(brokers, async (admin) => (await admin.describeCluster()).brokers.length > 0, security).catch(() => false)
        if (ok) return
        if (Date.now() > deadline) throw new Error(`private Kafka did not answer on ${brokers} within 90 s:\n${out}`)
        await sleep(250)
      }
    },
    async stop(timeoutMs = 30_000) {
      const c = child
      if (!c || !kafka.running) return
      c.kill('SIGTERM')
      const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs)
      await exited
      clearTimeout(timer)
    },
    output: () => out,
    async dispose() {
      const c = child
      if (c && kafka.running) {
        c.kill('SIGKILL')
        await exited
      }
      process.off('exit', killAtExit)
      rmSync(dir, { recursive: true, force: true })
    },
  }
  try {
    await kafka.start()
  } catch (err) {
    await kafka.dispose()
    throw err
  }
  return kafka
}

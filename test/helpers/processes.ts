/**
 * Separate fleetpulse processes for the distributed tests: the built CLI
 * started with roles and an environment of the test's choosing, its start-up
 * banner parsed for its URLs, its /readyz awaited, stopped gracefully (SIGTERM)
 * or crashed (SIGKILL), restarted. Output is kept (the last part of it) for
 * failure messages. Every process a file started dies in afterAll, or with the
 * test worker at the latest.
 *
 * The CLI is built once per run by the services project's globalSetup into
 * test-results/dist, not dist/: a build started by another test file (the CLI
 * test builds dist/) or by a developer must never rewrite the files a process
 * here is loading. Inside the package on purpose, so `type: module`, the
 * node_modules and the migrations are found as from dist/.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { PACKAGE_ROOT } from '../../core/paths.js'

export const TEST_DIST_DIR = path.join(PACKAGE_ROOT, 'test-results', 'dist')
export const TEST_CLI = path.join(TEST_DIST_DIR, 'bin', 'fleetpulse.js')

/** tsc (incremental) into TEST_DIST_DIR. */
export function buildTestCli(): void {
  const tsc = path.join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', TEST_DIST_DIR,
    '--tsBuildInfoFile', path.join(TEST_DIST_DIR, '.tsbuildinfo')], { cwd: PACKAGE_ROOT, encoding: 'utf8', timeout: 300_000 })
  if (build.status !== 0) throw new Error(`build of the CLI for the distributed tests failed:\n${build.stdout}${build.stderr}${build.error ?? ''}`)
}

export type Role = 'ingest' | 'stream' | 'api'

const OUTPUT_LIMIT = 256 * 1024
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** One running (or finished) `fleetpulse <roles>` process. */
export class FleetProcess {
  apiUrl: string | undefined
  mqttUrl: string | undefined
  mqttPort: number | undefined
  opsUrl: string | undefined
  readonly exited: Promise<Exit>
  private out = ''

  constructor(
    readonly name: string,
    readonly roles: Role[],
    readonly child: ChildProcess,
  ) {
    const append = (d: Buffer | string) => {
      this.out += d
      if (this.out.length > OUTPUT_LIMIT) this.out = this.out.slice(-OUTPUT_LIMIT)
    }
    child.stdout!.on('data', append)
    child.stderr!.on('data', append)
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** Where /healthz, /readyz and /metrics are: the API, or the ops server of a process without one. */
  get healthUrl(): string {
    const url = this.apiUrl ?? this.opsUrl
    if (!url) throw new Error(`${this.name} has no health URL (not started?)`)
    return url
  }

  output(): string {
    return this.out
  }

  /** The banner's URLs; resolves once every line the roles print is there, rejects if the process exits first. */
  async banner(timeoutMs: number): Promise<void> {
    // The banner is one write, but wait for its last line of each kind anyway.
    const needed = [this.roles.includes('api') ? /^ {2}Live\s/m : /^ {2}Health\s/m]
    if (this.roles.includes('ingest')) needed.push(/^ {2}MQTT\/WS\s/m)
    const deadline = Date.now() + timeoutMs
    while (!needed.every((re) => re.test(this.out))) {
      if (!this.running) throw new Error(`${this.name} exited during start-up (${JSON.stringify(this.child.exitCode ?? this.child.signalCode)}):\n${this.out}`)
      if (Date.now() > deadline) throw new Error(`${this.name} printed no banner within ${timeoutMs} ms:\n${this.out}`)
      await sleep(50)
    }
    this.apiUrl = /^ {2}API\s+(http:\/\/\S+)$/m.exec(this.out)?.[1]
    this.mqttUrl = /^ {2}MQTT\s+(mqtt:\/\/\S+)$/m.exec(this.out)?.[1]
    this.mqttPort = this.mqttUrl ? Number(new URL(this.mqttUrl).port) : undefined
    this.opsUrl = /^ {2}Health\s+(http:\/\/\S+)\/readyz/m.exec(this.out)?.[1]
  }

  async readyz(): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.healthUrl}/readyz`, { signal: AbortSignal.timeout(5000) })
    return { status: res.status, body: await res.json().catch(() => undefined) }
  }

  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let last: unknown
    for (;;) {
      if (!this.running) throw new Error(`${this.name} exited before it was ready:\n${this.out}`)
      try {
        const r = await this.readyz()
        if (r.status === 200) return
        last = r.body
      } catch (err) {
        last = err
      }
      if (Date.now() > deadline) throw new Error(`${this.name} not ready within ${timeoutMs} ms (last: ${JSON.stringify(last)}):\n${this.out}`)
      await sleep(200)
    }
  }

  /** Graceful stop: SIGTERM, then the exit; SIGKILL (and an error) if it takes longer than timeoutMs. */
  async terminate(timeoutMs = 60_000): Promise<Exit> {
    if (!this.running) return this.exited
    this.child.kill('SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), timeoutMs)))
    const result = await Promise.race([this.exited, late])
    clearTimeout(timer)
    if (result === 'late') {
      this.child.kill('SIGKILL')
      await this.exited
      throw new Error(`${this.name} did not stop within ${timeoutMs} ms of SIGTERM:\n${this.out}`)
    }
    return result
  }

  /** A crash: SIGKILL, no chance to flush or commit anything. */
  async kill(): Promise<Exit> {
    if (this.running) this.child.kill('SIGKILL')
    return this.exited
  }
}

export interface StartOptions {
  /** Extra environment for this process (over the group's). */
  env?: Record<string, string>
  /** How long the banner may take. */
  timeoutMs?: number
  /** Wait for /readyz 200 too (default true). */
  ready?: boolean
  /**
   * Retry while the fixed port asked for is still taken (a restart on the same
   * MQTT_PORT can race the kernel's release of the old socket, or another
   * process briefly holding it).
   */
  retryAddressInUseMs?: number
}

/** The processes of one test file, started with a shared environment. */
export class Processes {
  readonly all: FleetProcess[] = []
  private readonly killAtExit = () => {
    for (const p of this.all) if (p.running) p.child.kill('SIGKILL')
  }

  constructor(private readonly env: Record<string, string>) {
    process.once('exit', this.killAtExit)
  }

  async start(name: string, roles: Role[], options: StartOptions = {}): Promise<FleetProcess> {
    const deadline = Date.now() + (options.retryAddressInUseMs ?? 0)
    for (;;) {
      const proc = this.spawn(name, roles, options.env ?? {})
      try {
        await proc.banner(options.timeoutMs ?? 90_000)
        if (options.ready ?? true) await proc.waitReady(options.timeoutMs ?? 90_000)
        return proc
      } catch (err) {
        await proc.kill()
        if (/EADDRINUSE/.test(proc.output()) && Date.now() < deadline) {
          await sleep(250)
          continue
        }
        throw err
      }
    }
  }

  private spawn(name: string, roles: Role[], env: Record<string, string>): FleetProcess {
    const child = spawn(process.execPath, [TEST_CLI, ...roles], {
      cwd: PACKAGE_ROOT,
      env: { ...process.env, ...this.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const proc = new FleetProcess(name, roles, child)
    this.all.push(proc)
    return proc
  }

  /** The last `chars` of every process's output, for a failure message. */
  report(chars = 8000): string {
    return this.all.map((p) => {
      const state = p.running ? `running, pid ${p.pid}` : `exited ${JSON.stringify(p.child.exitCode ?? p.child.signalCode)}`
      return `--- ${p.name} (${p.roles.join(' ')}; ${state})\n${p.output().slice(-chars)}`
    }).join('\n')
  }

  /**
   * Stops every process still running: SIGTERM, and SIGKILL for those still
   * there after timeoutMs (a graceful stop leaves no consumer group members
   * behind on a shared Kafka).
   */
  async stopAll(timeoutMs = 15_000): Promise<void> {
    await Promise.all(this.all.map((p) => p.terminate(timeoutMs).catch(() => p.kill())))
    process.off('exit', this.killAtExit)
  }
}

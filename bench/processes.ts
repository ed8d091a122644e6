/**
 * Every process the bench starts is tracked here, so none outlives it: each
 * mode stops its own children, and whatever is left (an error, Ctrl-C) is
 * killed on the way out. Also the small waits the modes need (a port that
 * accepts, a line of output).
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'

const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()
const cleanups = new Set<() => Promise<unknown>>()

export function track(child: ChildProcess): ChildProcess {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (exited(child)) return
  const gone = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await gone
  clearTimeout(timer)
}

/** A fresh directory under the system temp dir, removed by `removeTempDir` or, failing that, on exit. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
  tempDirs.delete(dir)
}

/** Last resort: synchronous, so it also works from an 'exit' handler. */
function killAll(): void {
  for (const child of children) if (!exited(child)) child.kill('SIGKILL')
  for (const dir of tempDirs) removeTempDir(dir)
}

/**
 * Outside state to undo if the bench is interrupted (a scratch database,
 * Kafka topics); returns the function that unregisters it once done normally.
 */
export function onInterrupt(cleanup: () => Promise<unknown>): () => void {
  cleanups.add(cleanup)
  return () => cleanups.delete(cleanup)
}

const INTERRUPT_CLEANUP_MS = 15_000

/** Installs the exit and signal handlers once. */
export function killChildrenOnExit(): void {
  process.once('exit', killAll)
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.error(`\n[bench] ${sig}: stopping ${children.size} child process(es)`)
      killAll()
      const pending = [...cleanups].map((c) => c().catch(() => undefined))
      const deadline = new Promise((r) => setTimeout(r, INTERRUPT_CLEANUP_MS).unref())
      void Promise.race([Promise.all(pending), deadline]).then(() => process.exit(130))
    })
  }
}

/** A port free at the time of asking, for programs that cannot listen on port 0 and report it (mosquitto). */
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

/** Whether something accepts TCP connections on host:port within `timeoutMs`. */
export function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** Polls `probe` until it returns a value, the child exits, or the time is up. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  opts: { timeoutMs: number; child?: ChildProcess; output?: () => string },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    const tail = () => (opts.output ? `\n--- its output ---\n${opts.output().slice(-3000)}` : '')
    if (opts.child && exited(opts.child)) throw new Error(`${what}: the process exited (${opts.child.exitCode ?? opts.child.signalCode})${tail()}`)
    if (Date.now() > deadline) throw new Error(`${what}: not within ${opts.timeoutMs / 1000}s${tail()}`)
    await sleep(100)
  }
}

/** Collects a child's stdout and stderr (bounded) for banners and error reports. */
export function captureOutput(child: ChildProcess, maxChars = 200_000): () => string {
  let out = ''
  const add = (d: Buffer) => {
    out += d.toString()
    if (out.length > maxChars) out = out.slice(-maxChars / 2)
  }
  child.stdout?.on('data', add)
  child.stderr?.on('data', add)
  return () => out
}

/**
 * Named calls over the IPC channel of a forked helper process. The bench
 * drives every helper (load generator, live probe, subscriber, bare broker)
 * this way, so each one runs on its own event loop and CPU is accounted to it,
 * while the figures it collects come back as typed replies.
 */
import { fork, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { track } from './processes.js'

/** Method name -> implementation; one argument (or none) and a JSON-serializable result. */
export type RpcApi = Record<string, (arg: never) => unknown>

type Request = { rpc: number; method: string; arg: unknown }
type Reply = { rpc: number; result?: unknown; error?: string }

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url))
export const REPO_ROOT = path.dirname(BENCH_DIR)

/** In a helper: answers the parent's calls with `api`, and exits when the parent goes away. */
export function serveRpc<Api extends RpcApi>(api: Api): void {
  if (!process.send) throw new Error('this file is a bench helper: it must be started by bench/run.ts')
  process.on('message', (raw: Request) => {
    const method = api[raw.method]
    const reply = (r: Omit<Reply, 'rpc'>) => process.send?.({ rpc: raw.rpc, ...r })
    if (!method) return reply({ error: `unknown method ${raw.method}` })
    Promise.resolve()
      .then(() => method(raw.arg as never))
      .then(
        (result) => reply({ result }),
        (err: unknown) => reply({ error: err instanceof Error ? err.message : String(err) }),
      )
  })
  // An orphaned helper would keep publishing: leave with the parent.
  process.on('disconnect', () => process.exit(0))
}

export class RpcChild<Api extends RpcApi> {
  private next = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private exited: string | undefined

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.on('message', (raw: Reply) => {
      const p = this.pending.get(raw.rpc)
      if (!p) return
      this.pending.delete(raw.rpc)
      if (raw.error !== undefined) p.reject(new Error(`${name}: ${raw.error}`))
      else p.resolve(raw.result)
    })
    child.on('exit', (code, signal) => {
      this.exited = `${name} exited (${signal ?? `code ${code}`})`
      for (const p of this.pending.values()) p.reject(new Error(this.exited))
      this.pending.clear()
    })
  }

  get pid(): number {
    return this.child.pid ?? -1
  }

  call<K extends keyof Api & string>(
    method: K,
    ...arg: Parameters<Api[K]> extends [] ? [] : Parameters<Api[K]>
  ): Promise<Awaited<ReturnType<Api[K]>>> {
    if (this.exited) return Promise.reject(new Error(this.exited))
    const rpc = this.next++
    return new Promise((resolve, reject) => {
      this.pending.set(rpc, { resolve: resolve as (v: unknown) => void, reject })
      this.child.send({ rpc, method, arg: arg[0] } satisfies Request)
    })
  }
}

/** Forks `bench/<file>` under tsx, tracked so that it is killed whatever way the bench ends. */
export function forkHelper<Api extends RpcApi>(name: string, file: string): RpcChild<Api> {
  const child = fork(path.join(BENCH_DIR, file), [], {
    cwd: REPO_ROOT,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  track(child)
  return new RpcChild<Api>(name, child)
}

/**
 * The dispatcher console: the page at `/` and its bundle (built by `npm run
 * build` from web/ into dist/web), served as files under a strict CSP of their
 * own: scripts and styles from this origin only, no inline code; images also
 * from the configured tile server, if any. Public: the page logs in itself.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import { AppError } from '../errors.js'

export interface ConsoleOptions {
  /** The built console (dist/web). */
  dir: string
  /** {z}/{x}/{y} URL template of a map tile layer; none = a plain grid. */
  tileUrl: string | undefined
  tileAttribution: string
}

const FILES = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/console/app.js.map': { file: 'app.js.map', type: 'application/json; charset=utf-8' },
  '/console/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
} as const

export function consoleCsp(tileUrl: string | undefined): string {
  const tiles = tileUrl ? ` ${new URL(tileUrl.replace(/\{[zxy]\}/g, '0')).origin}` : ''
  return [
    "default-src 'self'", "script-src 'self'", "style-src 'self'", `img-src 'self' data:${tiles}`, "connect-src 'self'",
    "font-src 'self'", "object-src 'none'", "base-uri 'self'", "form-action 'self'", "frame-ancestors 'self'", "script-src-attr 'none'",
  ].join('; ')
}

export async function consoleRoutes(app: FastifyInstance, options: ConsoleOptions): Promise<void> {
  const csp = consoleCsp(options.tileUrl)
  // Read once: the files change only with a new build (and a restart).
  const cache = new Map<string, Buffer>()
  const load = async (file: string): Promise<Buffer | undefined> => {
    const hit = cache.get(file)
    if (hit) return hit
    const body = await readFile(path.join(options.dir, file)).catch(() => undefined)
    if (body) cache.set(file, body)
    return body
  }

  for (const [url, { file, type }] of Object.entries(FILES)) {
    app.get(url, { config: { public: true }, schema: { hide: true } }, async (_req, reply) => {
      const body = await load(file)
      if (!body) throw new AppError('console_unavailable')
      return reply.header('content-type', type).header('content-security-policy', csp).header('cache-control', 'no-cache').send(body)
    })
  }
  app.get('/console/config.json', { config: { public: true }, schema: { hide: true } }, async (_req, reply) =>
    reply.header('cache-control', 'no-cache').send({ tileUrl: options.tileUrl ?? null, tileAttribution: options.tileAttribution }))
}

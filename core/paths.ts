import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The package root, found from this file both in the sources and in dist/. */
export const PACKAGE_ROOT: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const candidate = path.join(dir, 'package.json')
    if (existsSync(candidate) && JSON.parse(readFileSync(candidate, 'utf8')).name === 'fleetpulse') return dir
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error('cannot find the fleetpulse package root')
    dir = parent
  }
})()

export const MIGRATIONS_DIR = path.join(PACKAGE_ROOT, 'migrations')

/** The dispatcher console as `npm run build` bundles it (scripts/build-web.mjs). */
export const CONSOLE_DIR = path.join(PACKAGE_ROOT, 'dist', 'web')

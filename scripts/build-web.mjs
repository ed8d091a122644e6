// Bundles the dispatcher console (web/) into dist/web: one script and one
// stylesheet served as files (the API's CSP allows no inline script), and the
// page. Run by `npm run build`; the browser test runs it too.
import { build } from 'esbuild'
import { copyFile, mkdir } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const out = path.resolve(root, process.argv[2] ?? 'dist/web')

await mkdir(out, { recursive: true })
await build({
  entryPoints: [path.join(root, 'web/main.ts')],
  outfile: path.join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
})
await copyFile(path.join(root, 'web/index.html'), path.join(out, 'index.html'))
await copyFile(path.join(root, 'web/console.css'), path.join(out, 'app.css'))

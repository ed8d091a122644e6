/**
 * Schemathesis (from PyPI, installed by `scripts/services.sh tools`) against the
 * OpenAPI document at /docs/json, authenticated as the admin, with every check:
 * no 5xx, responses that match the documented schemas, status codes and
 * content types, schema-valid input accepted and invalid input refused, auth
 * not ignored, and its stateful phase over the API's links. A fixed seed keeps
 * CI reproducible; SCHEMATHESIS_SEED and SCHEMATHESIS_MAX_EXAMPLES vary it.
 *
 * Its generation is single-threaded Python: the operations are split by tag
 * over two test files (each its own platform), which run on two cores at once.
 */
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PACKAGE_ROOT } from '../../core/paths.js'
import { login, startTestPlatform, type TestPlatform } from './platform.js'

const st = path.join(process.env.FLEETPULSE_CACHE ?? path.join(homedir(), '.cache', 'fleetpulse'), 'venv', 'bin', 'st')
const installed = existsSync(st)

/** The tags of the dispatch operations (orders, tickets and the driver app): one file runs them, the other the rest. */
export const DISPATCH_TAGS = ['orders', 'order workflow', 'tickets', 'ticket workflow', 'me']

/**
 * The suite over a selection of operations (`--include-tag` / `--exclude-tag`
 * arguments); `stateful` adds the stateful phase (over the selection).
 */
export function schemathesisSuite(name: string, selection: string[], stateful: boolean): void {
let platform: TestPlatform
let token: string

let vendor: Server | undefined

beforeAll(async () => {
  if (!installed) return
  // The background-check vendor, the one outside service we cannot run: it answers a reference.
  vendor = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ reference: `st-${randomUUID()}` })))
  await new Promise<void>((r) => vendor!.listen(0, '127.0.0.1', r))
  platform = await startTestPlatform({
    BACKGROUND_CHECK_URL: `http://127.0.0.1:${(vendor.address() as AddressInfo).port}/`,
    BACKGROUND_CHECK_SECRET: 'schemathesis-background-check-secret-0123',
  })
  token = await login(platform.apiUrl)
})
afterAll(async () => {
  await platform?.close()
  vendor?.close()
})

function run(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(st, args, { env: { ...process.env, NO_COLOR: '1', SCHEMATHESIS_TELEMETRY: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    child.on('error', reject)
    child.on('exit', (code) => resolve({ code, output }))
  })
}

function schemathesis(extra: string[]) {
  return run([
    '--config-file', path.join(PACKAGE_ROOT, 'test', 'schemathesis.toml'),
    'run', `${platform.apiUrl}/docs/json`,
    '-H', `Authorization: Bearer ${token}`,
    '--max-examples', process.env.SCHEMATHESIS_MAX_EXAMPLES ?? '10',
    '--seed', process.env.SCHEMATHESIS_SEED ?? '20261121',
    '--workers', '1',
    '--max-failures', '50',
    // --max-time would make fuzzing repeat until the budget is spent: a longer run on purpose only.
    ...(process.env.SCHEMATHESIS_MAX_TIME ? ['--max-time', process.env.SCHEMATHESIS_MAX_TIME] : []),
    '--no-color',
    ...selection,
    ...extra,
  ])
}

describe.skipIf(!installed)(`Schemathesis, ${name} (${installed ? st : 'not installed: run scripts/services.sh tools'})`, () => {
  it('finds no failure with all checks on every operation (examples, coverage, fuzzing)', async () => {
    const { code, output } = await schemathesis(['--phases', 'examples,coverage,fuzzing', '--checks', 'all'])
    // The whole report on failure: each failure names its check, operation and a curl to reproduce it.
    expect(code, output).toBe(0)
  }, 1_200_000)

  // The stateful phase feeds values from earlier responses into later requests
  // along links it infers (a driver's `userId` into GET /users/{id}); a null
  // there goes out as the text "None", which no uuid parameter takes. Such a
  // request is not schema-valid, so positive_data_acceptance does not apply to
  // this phase; every other check does.
  it.runIf(stateful)('finds no failure when it chains operations along their links (stateful)', async () => {
    const { code, output } = await schemathesis(['--phases', 'stateful', '--checks', 'all', '--exclude-checks', 'positive_data_acceptance'])
    expect(code, output).toBe(0)
  }, 1_200_000)
})
}

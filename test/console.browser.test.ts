/**
 * The dispatcher console in a real browser: Debian's Chromium, headless,
 * driven by playwright-core, against the whole platform (MQTT ingest, stream,
 * ClickHouse, API) with the fleet simulator driving vehicles over MQTT. Logs
 * in, sees the vehicles move, clicks one on the map, sees its panel and the
 * day's track; saves a screenshot in test-results/. Skipped, saying why, when
 * Chromium is not installed (`scripts/services.sh tools` installs it).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromium, type Browser, type Page } from 'playwright-core'
import { latLngToCell } from 'h3-js'
import { PACKAGE_ROOT } from '../core/paths.js'
import { TOPICS, type LivePositionV1 } from '../schemas/topics.v1.js'
import { ApiClient, connectFleet, driveFleet, provisionFleet, type ConnectedFleet } from '../sim/fleet.js'
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestPlatform, waitFor, type TestPlatform } from './helpers/platform.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const HAVE_CHROMIUM = existsSync(CHROMIUM)
const VEHICLES = 20
const RESULTS = path.join(PACKAGE_ROOT, 'test-results')

if (!HAVE_CHROMIUM) console.warn(`console browser test skipped: no Chromium at ${CHROMIUM} (install Debian's chromium: scripts/services.sh tools)`)

describe.skipIf(!HAVE_CHROMIUM)('the dispatcher console in Chromium', () => {
  let platform: TestPlatform
  let browser: Browser
  let page: Page
  let fleet: ConnectedFleet
  const driving = new AbortController()
  let drive: Promise<unknown>
  const problems: string[] = []

  beforeAll(async () => {
    // The console the API serves is the build's (dist/web): build it as `npm run build` does.
    const built = spawnSync(process.execPath, [path.join(PACKAGE_ROOT, 'scripts/build-web.mjs')], { cwd: PACKAGE_ROOT, encoding: 'utf8', timeout: 120_000 })
    if (built.status !== 0) throw new Error(`console build failed:\n${built.stdout}${built.stderr}`)
    platform = await startTestPlatform({ LIVE_COALESCE_MS: '250' })
    const client = new ApiClient(platform.apiUrl, ADMIN_EMAIL, ADMIN_PASSWORD)
    await client.login()
    const devices = await provisionFleet({ client, count: VEHICLES, namePrefix: 'Console' })
    fleet = await connectFleet(devices, { mqttUrl: platform.mqttUrl })
    // Vehicles around Berlin, one fix a second each. timeScale multiplies the model's waits: 0.1 makes departures
    // within 2 s and stops of 1-12 s, so they are soon on their way. (It was 10: departures staggered over 200 s
    // and stops of up to 20 min, so now and then none of the 20 had moved within the 30 s the test waits.)
    drive = driveFleet(fleet, { hz: 1, durationS: 0, center: { lat: 52.52, lon: 13.405 }, radiusKm: 8, timeScale: 0.1, seed: 7, signal: driving.signal })
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`) })
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  }, 180_000)

  afterAll(async () => {
    driving.abort()
    await drive?.catch(() => undefined)
    await fleet?.close()
    await browser?.close()
    await platform?.close()
  })

  const vehicleIds = () => page.evaluate(() => (window as unknown as { fleetpulse: { vehicles(): string[] } }).fleetpulse.vehicles())
  const screenOf = (id: string) => page.evaluate((v) => (window as unknown as { fleetpulse: { screenOf(id: string): [number, number] | undefined } }).fleetpulse.screenOf(v), id)

  it('logs in, shows the fleet moving, and opens a vehicle with its track when clicked on the map', async () => {
    const res = await page.goto(`${platform.apiUrl}/`)
    expect(res?.status()).toBe(200)
    // Served under a strict CSP: scripts and styles from the origin only.
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'")

    await page.fill('#login-email', ADMIN_EMAIL)
    await page.fill('#login-password', 'wrong password')
    await page.click('#login-submit')
    await expect.poll(() => page.textContent('#login-error')).not.toBe('')
    // That refusal is the 401 the browser logs; anything logged from here on is a problem.
    problems.length = 0
    await page.fill('#login-password', ADMIN_PASSWORD)
    await page.click('#login-submit')
    await page.waitForSelector('#live-status.live', { timeout: 30_000 })

    // Every simulated vehicle is listed and drawn once it has sent a fix.
    await waitFor(async () => (await vehicleIds()).length >= VEHICLES, { what: 'the fleet in the console', timeoutMs: 30_000 })
    const ids = await vehicleIds()
    await waitFor(async () => (await Promise.all(ids.map(screenOf))).every(Boolean), { what: 'every vehicle on the map', timeoutMs: 30_000 })
    await waitFor(async () => (await page.$$('#vehicle-list .row')).length >= VEHICLES, { what: 'the vehicle list' })

    // They move: fresh fixes for every vehicle, and the moving ones drawn somewhere else (the simulator's
    // vehicles dwell at stops now and then, so not all of them move at any one time); the canvas changes.
    const fixTime = (id: string) => page.evaluate((v) => (window as unknown as { fleetpulse: { position(id: string): { ts: string } | null } }).fleetpulse.position(v)?.ts, id)
    const tsBefore = await Promise.all(ids.map(fixTime))
    const before = await Promise.all(ids.map(screenOf))
    const shotBefore = await page.locator('#map').screenshot()
    await waitFor(async () => {
      const after = await Promise.all(ids.map(screenOf))
      return after.some((p, i) => p && before[i] && Math.hypot(p[0] - before[i]![0], p[1] - before[i]![1]) > 1)
    }, { what: 'a vehicle moving on the map', timeoutMs: 30_000 })
    await waitFor(async () => (await Promise.all(ids.map(fixTime))).every((ts, i) => ts! > tsBefore[i]!), { what: 'fresh fixes of every vehicle' })
    expect(Buffer.compare(shotBefore, await page.locator('#map').screenshot())).not.toBe(0)

    // Click one on the map: its panel opens with its name and today's track from ClickHouse.
    const target = ids[0]!
    const box = (await page.locator('#map').boundingBox())!
    const [x, y] = (await screenOf(target))!
    await page.mouse.click(box.x + x, box.y + y)
    await page.waitForSelector('#panel:not([hidden])')
    const name = await page.evaluate((id) => document.querySelector(`#vehicle-list .row[data-id="${id}"] .name`)?.textContent ?? '', target)
    await expect.poll(() => page.textContent('#panel-title')).toContain('Console')
    expect(name === '' || name.startsWith((await page.textContent('#panel-title'))!.split(' · ')[0]!)).toBe(true)
    await expect.poll(() => page.textContent('#track-summary'), { timeout: 20_000 }).toMatch(/^\d+ fixes/)
    expect(Number(await page.getAttribute('#replay-slider', 'max'))).toBeGreaterThan(0)
    await expect.poll(() => page.textContent('#panel-facts')).toContain('km/h')

    // Search filters the list.
    await page.fill('#search', 'Console 0001')
    await expect.poll(async () => (await page.$$('#vehicle-list .row')).length).toBe(1)
    await page.fill('#search', '')

    mkdirSync(RESULTS, { recursive: true })
    await page.screenshot({ path: path.join(RESULTS, 'console.png') })
    expect(problems, problems.join("\n")).toEqual([])
  }, 120_000)

  it('stays responsive with 2,000 vehicles moving', async () => {
    const FLEET = 2000
    const pool = platform.postgres.pool
    const orgId = (await pool.query<{ org_id: string }>('SELECT org_id FROM users WHERE email = $1', [ADMIN_EMAIL])).rows[0]!.org_id
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO vehicles (org_id, name) SELECT $1, 'Bulk ' || g FROM generate_series(1, $2::int) g RETURNING id`, [orgId, FLEET])
    const ids = rows.map((r) => r.id)
    // Every vehicle moves every 500 ms, published as the stream publishes live positions.
    let round = 0
    const publish = () => {
      const ts = Date.now()
      round++
      return platform.bus.publish(TOPICS.livePositions, ids.map((vehicleId, i) => {
        const lat = 52.4 + (i % 50) * 0.004 + round * 0.0001
        const lon = 13.2 + Math.floor(i / 50) * 0.006
        const p: LivePositionV1 = { orgId, vehicleId, ts, lat, lon, speed: 40, heading: (i * 37) % 360, h3: latLngToCell(lat, lon, 9) }
        return { key: vehicleId, value: Buffer.from(JSON.stringify(p)) }
      }))
    }
    await publish()
    // A reload is a reconnect: the fresh snapshot names the new vehicles.
    await page.reload()
    await page.waitForSelector('#live-status.live', { timeout: 30_000 })
    await waitFor(async () => (await vehicleIds()).length >= FLEET, { what: '2,000 vehicles in the console', timeoutMs: 30_000 })
    const timer = setInterval(() => void publish(), 500)
    try {
      // How smoothly it draws meanwhile is a figure, not an assertion: `npm run bench -- --modes console`.
      // It keeps up while they move: every vehicle shows a fix published after this point (4,000 updates/s)…
      const behind = (from: number) => page.evaluate(({ vehicles, from }) => {
        const fp = (window as unknown as { fleetpulse: { position(id: string): { ts: string } | null } }).fleetpulse
        return vehicles.filter((id) => !(Date.parse(fp.position(id)?.ts ?? '') >= from)).length
      }, { vehicles: ids, from })
      const since = Date.now()
      await waitFor(async () => (await behind(since)) === 0, { what: 'every one of 2,000 vehicles showing a fresh fix', timeoutMs: 30_000 })
      // …each on the map, and the page still answers the dispatcher: a search filters the list meanwhile.
      expect((await Promise.all(ids.slice(0, 50).map(screenOf))).every(Boolean)).toBe(true)
      await page.fill('#search', 'Bulk 1999')
      await expect.poll(async () => (await page.$$('#vehicle-list .row')).length, { timeout: 30_000 }).toBe(1)
      await page.fill('#search', '')
      const afterSearch = Date.now()
      await waitFor(async () => (await behind(afterSearch)) === 0, { what: 'every vehicle fresh again after the search', timeoutMs: 30_000 })
    } finally {
      clearInterval(timer)
    }
    await page.screenshot({ path: path.join(RESULTS, 'console-2000.png') })
    expect(problems, problems.join('\n')).toEqual([])
  }, 180_000)
})

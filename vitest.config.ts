import { defineConfig } from 'vitest/config'

// With PostgreSQL and Kafka up (npm run test:all exports their URLs), the
// platform tests run a second time as the "services" project: a fresh
// PostgreSQL database per file and the Kafka bus under a namespace of its own.
// Bus and database contract tests cover both implementations within one file.
const withServices = Boolean(process.env.DATABASE_URL && process.env.KAFKA_BROKERS)
const PLATFORM_TESTS = ['test/pipeline.e2e.test.ts', 'test/ingest.security.test.ts', 'test/api.test.ts']

export default defineConfig({
  test: {
    // Each test file gets its own process: embedded chDB is a per-process singleton.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      { extends: true as const, test: { name: 'embedded', include: ['test/**/*.test.ts'], env: { FLEETPULSE_TEST_BACKEND: 'embedded' } } },
      ...(withServices
        ? [{ extends: true as const, test: { name: 'services', include: PLATFORM_TESTS, env: { FLEETPULSE_TEST_BACKEND: 'services' } } }]
        : []),
    ],
  },
})

import { configDefaults, defineConfig } from 'vitest/config'
import { BaseSequencer, type TestSpecification } from 'vitest/node'

/**
 * The Schemathesis files first: they are the longest by far (single-threaded
 * Python generating requests), so started first they overlap everything else
 * instead of running alone at the end of a clean checkout's run.
 */
class SchemathesisFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files)
    const rank = (f: TestSpecification) => (/schemathesis/.test(f.moduleId) ? 0 : 1)
    return [...sorted].sort((a, b) => rank(a) - rank(b))
  }
}

// With PostgreSQL and Kafka up (npm run test:all exports their URLs), the
// platform tests run a second time as the "services" project: a fresh
// PostgreSQL database per file and the Kafka bus under a namespace of its own.
// Bus and database contract tests cover both implementations within one file.
const withServices = Boolean(process.env.DATABASE_URL && process.env.KAFKA_BROKERS)
const PLATFORM_TESTS = [
  'test/pipeline.e2e.test.ts', 'test/ingest.security.test.ts', 'test/api.test.ts', 'test/identity.test.ts', 'test/routes.walk.test.ts',
  'test/onboarding.vehicles.test.ts', 'test/onboarding.devices.test.ts', 'test/onboarding.drivers.test.ts', 'test/onboarding.documents.test.ts',
  'test/analytics.e2e.test.ts',
  'test/geofences.test.ts', 'test/device-events.e2e.test.ts', 'test/alert-rules.test.ts',
  'test/orders.test.ts', 'test/tickets.test.ts', 'test/dispatch.e2e.test.ts',
]
// Separate fleetpulse processes over Kafka and PostgreSQL: services only. They
// run the CLI that test/distributed/global-setup.ts builds once per run.
const DISTRIBUTED_TESTS = 'test/distributed/**/*.test.ts'

export default defineConfig({
  test: {
    // Each test file gets its own process: embedded chDB is a per-process singleton.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: true,
    maxWorkers: 2,
    sequence: { sequencer: SchemathesisFirst },
    projects: [
      {
        extends: true as const,
        test: {
          name: 'embedded', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, 'test/distributed/**'],
          env: { FLEETPULSE_TEST_BACKEND: 'embedded' },
        },
      },
      ...(withServices
        ? [{
          extends: true as const,
          test: {
            name: 'services', include: [...PLATFORM_TESTS, DISTRIBUTED_TESTS], globalSetup: ['test/distributed/global-setup.ts'],
            env: { FLEETPULSE_TEST_BACKEND: 'services' },
          },
        }]
        : []),
    ],
  },
})

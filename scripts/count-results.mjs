// Prints one line, "N passed, N failed", from vitest's JSON report.
import { readFileSync } from 'node:fs'

const file = process.argv[2] ?? 'test-results/vitest.json'
let report
try {
  report = JSON.parse(readFileSync(file, 'utf8'))
} catch {
  console.log('0 passed, 1 failed')
  process.exit(0)
}
// A file that failed outside its tests (it did not load, or its beforeAll threw
// and its tests were skipped) has no failed test but must count as a failure.
const brokenFiles = (report.testResults ?? []).filter(
  (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'),
).length
console.log(`${report.numPassedTests ?? 0} passed, ${(report.numFailedTests ?? 0) + brokenFiles} failed`)

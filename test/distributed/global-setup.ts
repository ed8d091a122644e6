/**
 * globalSetup of the "services" project: builds the CLI the distributed tests
 * spawn, once per run and before any test file starts, so no file builds while
 * another one's processes load (see test/helpers/processes.ts).
 */
import { buildTestCli } from '../helpers/processes.js'

export function setup(): void {
  buildTestCli()
}

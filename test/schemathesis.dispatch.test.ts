/** Schemathesis over the dispatch operations: orders, tickets and the driver app (test/helpers/schemathesis.ts). */
import { DISPATCH_TAGS, schemathesisSuite } from './helpers/schemathesis.js'

schemathesisSuite('dispatch', DISPATCH_TAGS.flatMap((t) => ['--include-tag', t]), true)

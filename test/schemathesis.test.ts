/** Schemathesis over every operation but the dispatch ones (test/helpers/schemathesis.ts), and the stateful phase. */
import { DISPATCH_TAGS, schemathesisSuite } from './helpers/schemathesis.js'

schemathesisSuite('all but dispatch', DISPATCH_TAGS.flatMap((t) => ['--exclude-tag', t]), true)

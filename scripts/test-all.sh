#!/usr/bin/env bash
# The whole test suite, as the README's Quick start runs it and as CI does:
# installs what the tests need (when it can), starts PostgreSQL and Kafka,
# typechecks, lints, and runs vitest with a JSON report in
# test-results/vitest.json.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh tools || exit 1

[ -d node_modules ] || npm ci || npm install || { echo "test-all: installing npm packages failed" >&2; exit 1; }

# Real PostgreSQL and Kafka (installed and started when missing): bus and
# database tests then run on both implementations. FLEETPULSE_SKIP_SERVICES=1
# runs the embedded variants only.
if [ "${FLEETPULSE_SKIP_SERVICES:-0}" != 1 ]; then
  service_env=$(scripts/services.sh up) || { echo "test-all: starting PostgreSQL and Kafka failed (see above)" >&2; exit 1; }
  eval "$service_env"
  echo "test-all: using DATABASE_URL=$DATABASE_URL KAFKA_BROKERS=$KAFKA_BROKERS"
fi

npm run --silent typecheck || { echo "test-all: typecheck failed" >&2; exit 1; }
npm run --silent lint || { echo "test-all: lint failed" >&2; exit 1; }

mkdir -p test-results
npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json "$@"
status=$?
node scripts/count-results.mjs test-results/vitest.json
exit $status

#!/usr/bin/env bash
# Real PostgreSQL and Apache Kafka for development and tests, without Docker.
#
#   scripts/services.sh up     install what is missing, start both, print the env to use
#   scripts/services.sh down   stop both
#   scripts/services.sh env    print DATABASE_URL and KAFKA_BROKERS
#   scripts/services.sh tools  install the tools the tests and the benchmark use: mosquitto
#                              (broker and clients), Chromium (the console's browser test,
#                              driven headless by playwright-core) and Schemathesis (from
#                              PyPI, in a venv under the cache: $FLEETPULSE_CACHE/venv/bin/st)
#
# PostgreSQL: Debian's package, its `main` cluster on 127.0.0.1:5432, with a
# role and database `fleetpulse`. Kafka: 3.9.1 in KRaft mode (one node, broker
# and controller) on 127.0.0.1:9092, its jars resolved from Maven Central by
# services/kafka/pom.xml and cached in $FLEETPULSE_CACHE (default
# ~/.cache/fleetpulse), run with the machine's Java. Idempotent: `up` twice is
# fine. Every failing step says what failed.
set -uo pipefail
cd "$(dirname "$0")/.."

KAFKA_VERSION=3.9.1
CACHE=${FLEETPULSE_CACHE:-$HOME/.cache/fleetpulse}
KAFKA_HOME=$CACHE/kafka-$KAFKA_VERSION
KAFKA_DATA=$CACHE/kafka-data
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
PG_PORT=${PG_PORT:-5432}
DATABASE_URL="postgres://fleetpulse:fleetpulse@127.0.0.1:$PG_PORT/fleetpulse"
KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"

fail() { echo "services: $*" >&2; exit 1; }
say() { echo "services: $*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port seconds what
  for _ in $(seq 1 "$2"); do port_open "$1" && return 0; sleep 1; done
  return 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

apt_install() {
  say "installing $* (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq >/dev/null || fail "apt-get update failed"
  as_root apt-get install -y -qq "$@" >/dev/null || fail "apt-get install $* failed"
}

pg_version() { ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1; }

postgres_up() {
  if [ -z "$(pg_version)" ] || ! command -v pg_ctlcluster >/dev/null; then apt_install postgresql; fi
  local v; v=$(pg_version)
  [ -n "$v" ] || fail "PostgreSQL is not installed under /usr/lib/postgresql"
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $2}' | grep -qx main; then
    as_root pg_createcluster "$v" main --port "$PG_PORT" >/dev/null || fail "pg_createcluster $v main failed"
  fi
  if ! pg_lsclusters -h | awk '$2=="main"{print $4}' | grep -qx online; then
    as_root pg_ctlcluster "$v" main start || fail "could not start PostgreSQL $v/main (see /var/log/postgresql/postgresql-$v-main.log)"
  fi
  wait_port "$PG_PORT" 30 || fail "PostgreSQL does not answer on 127.0.0.1:$PG_PORT"
  local psql=(as_root runuser -u postgres -- psql -X -q -p "$PG_PORT" -v ON_ERROR_STOP=1)
  [ "$(id -u)" = 0 ] || psql=(sudo -n -u postgres psql -X -q -p "$PG_PORT" -v ON_ERROR_STOP=1)
  "${psql[@]}" -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fleetpulse') THEN
        CREATE ROLE fleetpulse LOGIN PASSWORD 'fleetpulse' CREATEDB;
      END IF;
    END \$\$;" || fail "could not create the PostgreSQL role fleetpulse"
  if [ "$("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = 'fleetpulse'")" != 1 ]; then
    "${psql[@]}" -c "CREATE DATABASE fleetpulse OWNER fleetpulse" || fail "could not create the database fleetpulse"
  fi
  say "PostgreSQL $v ready on 127.0.0.1:$PG_PORT"
}

kafka_jars() {
  if [ -f "$KAFKA_HOME/.complete" ]; then return 0; fi
  command -v java >/dev/null || fail "java is not installed (Kafka needs Java 17)"
  command -v mvn >/dev/null || apt_install maven
  say "resolving Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_HOME"
  mkdir -p "$KAFKA_HOME/libs"
  mvn -q -B -f services/kafka/pom.xml dependency:copy-dependencies \
    -Dkafka.version="$KAFKA_VERSION" -DoutputDirectory="$KAFKA_HOME/libs" >"$CACHE/mvn.log" 2>&1 \
    || fail "mvn could not resolve Kafka $KAFKA_VERSION (see $CACHE/mvn.log)"
  touch "$KAFKA_HOME/.complete"
}

kafka_up() {
  mkdir -p "$CACHE"
  if port_open "$KAFKA_PORT"; then say "Kafka already answers on $KAFKA_BROKERS"; return 0; fi
  kafka_jars
  mkdir -p "$KAFKA_DATA"
  cat >"$KAFKA_DATA/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DATA/logs
num.partitions=8
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=24
EOF
  local cp="$KAFKA_HOME/libs/*"
  if [ ! -f "$KAFKA_DATA/logs/meta.properties" ]; then
    java -cp "$cp" kafka.tools.StorageTool format -t "$(cat /proc/sys/kernel/random/uuid | tr -d - | head -c 22)" \
      -c "$KAFKA_DATA/server.properties" >"$KAFKA_DATA/format.log" 2>&1 \
      || fail "kafka storage format failed (see $KAFKA_DATA/format.log)"
  fi
  say "starting Kafka $KAFKA_VERSION (KRaft) on $KAFKA_BROKERS"
  nohup java -Xms256m -Xmx1g -Dlog4j.configuration=file:/dev/null -cp "$cp" kafka.Kafka "$KAFKA_DATA/server.properties" \
    >"$KAFKA_DATA/kafka.log" 2>&1 &
  echo $! >"$KAFKA_DATA/kafka.pid"
  wait_port "$KAFKA_PORT" 90 || fail "Kafka did not open $KAFKA_BROKERS within 90 s (see $KAFKA_DATA/kafka.log)"
  say "Kafka ready on $KAFKA_BROKERS"
}

kafka_down() {
  if [ -f "$KAFKA_DATA/kafka.pid" ]; then
    local pid; pid=$(cat "$KAFKA_DATA/kafka.pid")
    kill "$pid" 2>/dev/null && for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null
    rm -f "$KAFKA_DATA/kafka.pid"
  fi
  say "Kafka stopped"
}

postgres_down() {
  local v; v=$(pg_version)
  [ -n "$v" ] && as_root pg_ctlcluster "$v" main stop 2>/dev/null
  say "PostgreSQL stopped"
}

SCHEMATHESIS_VERSION=4.32.5

tools() {
  local pkgs=()
  command -v mosquitto_pub >/dev/null 2>&1 || pkgs+=(mosquitto-clients)
  [ -x /usr/sbin/mosquitto ] || pkgs+=(mosquitto)
  [ -x /usr/bin/chromium ] || pkgs+=(chromium)
  python3 -c 'import ensurepip, venv' 2>/dev/null || pkgs+=(python3-venv)
  command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
  if [ ${#pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; then apt_install "${pkgs[@]}"
    else say "not installed (needs root for apt-get): ${pkgs[*]}; the tests that need them are skipped"; fi
  fi
  schemathesis_install
}

schemathesis_install() {
  local venv=$CACHE/venv
  if [ -x "$venv/bin/st" ] && "$venv/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then return 0; fi
  command -v python3 >/dev/null || { say "python3 is missing: Schemathesis is not installed, its test is skipped"; return 0; }
  say "installing Schemathesis $SCHEMATHESIS_VERSION from PyPI into $venv"
  mkdir -p "$CACHE"
  { python3 -m venv "$venv" && "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"; } >"$CACHE/pip.log" 2>&1 \
    || fail "pip could not install schemathesis $SCHEMATHESIS_VERSION (see $CACHE/pip.log)"
}

print_env() {
  echo "export DATABASE_URL=$DATABASE_URL"
  echo "export KAFKA_BROKERS=$KAFKA_BROKERS"
}

case "${1:-}" in
  up) postgres_up && kafka_up && print_env ;;
  down) kafka_down; postgres_down ;;
  env) print_env ;;
  tools) tools ;;
  *) echo "usage: scripts/services.sh up | down | env | tools" >&2; exit 2 ;;
esac

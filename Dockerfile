# fleetpulse container image.
#
#   docker build -t fleetpulse .
#   docker run --rm -p 3000:3000 -p 1883:1883 -p 8083:8083 -v fleetpulse-data:/data fleetpulse
#
# With no arguments the container runs every role (`all`) on the embedded
# defaults (PGlite and chDB under /data). Give roles as arguments to split them,
# e.g. `docker run ... fleetpulse stream api`; docker-compose.yml runs the
# distributed topology.
#
# Debian (glibc) on purpose: chDB ships a glibc-only native library
# (@chdb/lib-linux-x64-gnu), so an Alpine (musl) base cannot load it.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------
# build: every dependency (devDependencies included) and the TypeScript build.
# ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app

# Dependencies first, in their own layer: it is reused until the lockfile changes.
# Scripts are skipped here only because the sources are not copied yet; the
# `prepare` step they would run (tsc) is the explicit build below.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts

COPY . .
RUN npm run build \
 && rm -f dist/.tsbuildinfo

# ---------------------------------------------------------------------------
# runtime: production dependencies only, the built dist/ and the migrations.
# ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app

# --ignore-scripts: `prepare` would run tsc, which is a devDependency and is not
# installed here; dist/ comes from the build stage instead.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts \
 && npm cache clean --force

# package.json stays next to dist/ and migrations/: the app finds its package
# root (and so migrations/) by walking up to the package.json named fleetpulse.
COPY --from=build /app/dist ./dist
COPY --from=build /app/migrations ./migrations

# The application files stay root-owned (read-only to the app); only /data is
# writable. Created before VOLUME so a fresh named volume inherits the owner.
RUN mkdir -p /data && chown node:node /data
USER node

ENV HOST=0.0.0.0 \
    DATA_DIR=/data
VOLUME ["/data"]

# 3000: HTTP API + Socket.IO (api role); 1883: MQTT; 8083: MQTT over WebSocket (ingest role)
EXPOSE 3000 1883 8083

# Liveness of the api role (the default `all` includes it). No curl in slim
# images: node's built-in fetch. Containers running only ingest or stream serve
# no HTTP and override this (see docker-compose.yml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# The app drains the bus and closes its connectors on SIGTERM. It gives itself
# SHUTDOWN_TIMEOUT_MS (15 s by default) + 5 s, so give the container more than
# Docker's default 10 s before SIGKILL (`docker stop -t 30`, compose's
# stop_grace_period).
STOPSIGNAL SIGTERM

# Node flags as in the shebang of bin/fleetpulse.ts (why: see there).
ENTRYPOINT ["node", "--max-semi-space-size=64", "dist/bin/fleetpulse.js"]
CMD ["all"]

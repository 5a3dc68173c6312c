# syntax=docker/dockerfile:1
#
# The Assay API image. Two targets (deploy/README.md "The image"):
#   docker build -t assay .                        → `standalone` (the default, last stage): every store
#                                                     mode works, embedded chDB included (~540 MB more)
#   docker build --target server -t assay:server . → `server`: for DATABASE_URL + CLICKHOUSE_URL
#                                                     deployments (deploy/docker-compose.yml builds it)
# Node 24 LTS on Debian 12 (bookworm): the same glibc family the code is tested on (chDB's native
# library is glibc-only — no Alpine). The code itself runs on Node >= 20.19 (package.json engines).
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- the workspace manifests both installs start from (layers cached until a package.json changes)
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/contracts/package.json packages/contracts/
COPY packages/server/package.json packages/server/
COPY packages/sdk/package.json packages/sdk/
COPY packages/web/package.json packages/web/

# ---- production dependencies only: no devDependency is needed at run time (the TypeScript sources
# run through tsx, a production dependency of @assay/server). Scripts are skipped: the root
# `prepare` (SDK + web builds) needs devDependencies, and no production package needs an install
# script (chdb's is a no-op; its native library is the @chdb/lib-* package itself).
FROM manifests AS deps
# Only the workspaces the server runs (the web UI's React is bundled into packages/web/dist).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
      --workspace packages/server --workspace packages/contracts --include-workspace-root \
 && npm cache clean --force

# ---- the web UI's production build (needs the devDependencies: vite, the React plugin)
FROM manifests AS build
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY packages/contracts packages/contracts
COPY packages/web packages/web
RUN npm run build -w packages/web

# chDB's native library (~540 MB) is the one part only embedded ClickHouse uses: the server image
# goes without it (the `chdb` package itself stays; it loads the library only when opened).
FROM deps AS deps-server
RUN rm -rf node_modules/@chdb

# ---- the server image: PostgreSQL and ClickHouse are servers (PGlite still works; chDB does not)
FROM ${NODE_IMAGE} AS server
ENV NODE_ENV=production \
    ENVIRONMENT=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    ASSAY_DATA_DIR=/data
WORKDIR /app
# A system user of its own; the code stays root-owned, so the process cannot rewrite it.
RUN groupadd --system --gid 10001 assay \
 && useradd --system --uid 10001 --gid assay --home-dir /data --no-create-home --shell /usr/sbin/nologin assay \
 && mkdir -p /data && chown assay:assay /data && chmod 0700 /data
COPY --from=deps-server /app/node_modules ./node_modules
COPY package.json ./
COPY packages/contracts/package.json packages/contracts/
COPY packages/contracts/src packages/contracts/src
COPY packages/server/package.json packages/server/
COPY packages/server/bin packages/server/bin
COPY packages/server/src packages/server/src
COPY packages/web/package.json packages/web/
COPY --from=build /app/packages/web/dist packages/web/dist
USER assay
VOLUME ["/data"]
EXPOSE 8000
# Ready = both stores answer (GET /readyz); the first start transpiles the sources (tsx) and migrates.
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
  CMD ["node", "packages/server/bin/healthcheck.mjs"]
ENTRYPOINT ["node", "packages/server/bin/assay.mjs"]
CMD ["serve"]

# ---- the default image: the server image plus chDB's native library, so it also runs on its own
# with both stores embedded in /data (docker run -p 8000:8000 -v assay-data:/data assay).
FROM server AS standalone
COPY --from=deps /app/node_modules/@chdb ./node_modules/@chdb

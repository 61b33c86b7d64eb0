# rowcast's container image.
#   docker build -t rowcast .
#   docker run -v "$PWD/rowcast.yaml:/etc/rowcast/rowcast.yaml:ro" -e DATABASE_URL=… -p 9464:9464 rowcast
# The config is a mounted file; its `http` must listen on 0.0.0.0:9464 (HEALTHCHECK and probes use /healthz there).
# `scripts/image-layout.sh` builds the runtime stage's file layout without Docker (test/integration/image.test.ts).
ARG NODE_VERSION=24

# Build: every dependency, then the bundle, the declarations and the config's JSON Schema (npm run build → dist/).
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here (the build runs below).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

# Runtime: Node, tini, the production dependencies and the built code only; a non-root user.
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# tini as PID 1 passes SIGTERM on to rowcast (which drains, confirms and exits 0) and reaps zombies.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /opt/rowcast
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
RUN ln -s /opt/rowcast/bin/rowcast.mjs /usr/local/bin/rowcast
# The node image's unprivileged user (uid 1000); the Kubernetes manifests run as the same uid.
USER node
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "rowcast"]
CMD ["run", "--config", "/etc/rowcast/rowcast.yaml"]

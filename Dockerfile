# syntax=docker/dockerfile:1
# The hypervisor worker image. Build: `docker build -t agent-hypervisor .`; run: see docker-compose.yml and
# deploy/helm/agent-hypervisor. The runtime stage's steps are rehearsed without Docker by test/deploy/runtime-stage.test.ts.

# Build stage: every dependency, then `npm run build` (tsc to dist/ and the pre-built workflow bundle).
FROM node:20.19-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# The build id (worker/build-info.ts) is <version>+<commit>; the context has no .git, so pass the commit:
# `docker build --build-arg GIT_SHA=$(git rev-parse --short=12 HEAD) .`
ARG GIT_SHA=unknown
RUN HV_GIT_SHA="$GIT_SHA" npm run build

# Runtime stage: production dependencies and dist/ only, as the unprivileged `node` user.
FROM node:20.19-bookworm-slim AS runtime
# tini as PID 1 forwards SIGTERM to node (the worker drains) and reaps zombies.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
  HV_HTTP_HOST=0.0.0.0 \
  HV_HTTP_PORT=9464
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY migrations ./migrations
USER node
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.HV_HTTP_PORT+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/worker/main.js"]

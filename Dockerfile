# syntax=docker/dockerfile:1
# flexseat services (registry, SIP node, provisioning, portal) in one image; docker-compose.yml picks the
# command per container. Two stages: build the whole workspace with the pinned TypeScript, then
# copy only production dependencies and compiled output onto a slim runtime.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# The whole workspace at once: every package's package.json must be present for `npm ci`, and
# new packages (sip-node) then need no change here.
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages/ packages/
# No install scripts: nothing we run needs them (buf is only for `npm run generate`).
RUN npm ci --ignore-scripts --no-audit --no-fund
# The portal's front end is bundled by esbuild (a dev dependency) into packages/portal/dist/public.
RUN npx tsc -b \
 && npm run build:web -w @flexseat/portal \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/packages packages
COPY sites sites
COPY deploy/grpc-health-check.js deploy/grpc-health-check.js
USER node
# gRPC (registry), HTTP (provisioning, portal). The SIP node talks to drachtio-server over its control
# socket; it listens on nothing.
EXPOSE 50051 8080
# docker-compose.yml gives each container its command (`--site <id>`).
CMD ["node", "packages/registry/dist/main.js"]

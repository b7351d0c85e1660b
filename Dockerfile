# syntax=docker/dockerfile:1
# One image for every Portcullis process: `portcullis operator`, `portcullis token-server` and
# `portcullis activity`.
# test/integration/image.test.ts builds it with a real Docker engine (the legacy builder, which reads the
# syntax line as a comment: offline, BuildKit could not fetch that frontend) and runs its commands from it;
# test/integration/dockerfile.test.ts replays the RUN steps below on a copy of the build context, so
# keep them to exactly the compiler install, `npm ci`, `npm run build`, `npm prune --omit=dev` (or update
# that test).

FROM node:24-bookworm-slim AS build
# better-sqlite3 (the activity store) is a native module. Its install script tries a prebuilt binary from
# GitHub first; where the build reaches only the Debian and npm registries, node-gyp compiles it instead,
# with these tools and Node's own headers (the image's /usr/local/include/node: npm_config_nodedir keeps
# node-gyp from downloading them). Only this stage has them; the runtime stage gets the built module.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local
WORKDIR /src
# Dependencies first: this layer stays cached until the lockfile changes.
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build
RUN npm prune --omit=dev

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
# glibc gives each thread that allocates (libuv's pool: bcrypt, zlib, fs) an arena of its own and keeps
# their freed memory: with two, the operator at 10,000 users and grants measured 336 MB of RSS against
# 400 MB (heap in use the same, 211-214 MB), and 298 MB against 400 MB after a minute idle.
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=build --chown=0:0 /src/package.json ./package.json
COPY --from=build --chown=0:0 /src/node_modules ./node_modules
COPY --from=build --chown=0:0 /src/dist ./dist
# crds/*.yaml is read at run time by the offline schema check (dist/crds/schema.js looks in ../../crds).
COPY --from=build --chown=0:0 /src/crds ./crds
# Files stay root-owned and read-only to the process; 65532 is the conventional "nonroot" uid and
# matches the chart's runAsUser, so readOnlyRootFilesystem needs no writable path in /app.
USER 65532:65532
ENTRYPOINT ["node", "/app/dist/bin/portcullis.js"]
CMD ["--help"]

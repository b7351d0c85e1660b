#!/usr/bin/env bash
# Builds cesanta/docker_auth, the peer `npm run bench` compares the token server with, into
# .tools/docker_auth-<commit>/auth_server. Not part of CI or `npm test`: the bench prints how to run
# this when the binary is missing and goes on without the peer.
#
# The module github.com/cesanta/docker_auth is not served by the Go module proxy under its own name,
# but its public source builds unmodified with `go build` in auth_server/, the dependencies coming
# through the proxy. Source, in this order:
#   DOCKER_AUTH_SRC=/path   a checkout (a work tree with auth_server/) or a bare git directory
#   otherwise               git clone https://github.com/cesanta/docker_auth (needs internet)
# DOCKER_AUTH_REF picks a commit, tag or branch (default: the source's HEAD).
# Needs go (>= the go line of auth_server/go.mod), gcc (go-sqlite3 is cgo) and git.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ref="${DOCKER_AUTH_REF:-HEAD}"
work="$(mktemp -d "${TMPDIR:-/tmp}/docker-auth-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if [[ -n "${DOCKER_AUTH_SRC:-}" ]]; then
  if git --git-dir="$DOCKER_AUTH_SRC" rev-parse --git-dir >/dev/null 2>&1 && [[ ! -d "$DOCKER_AUTH_SRC/.git" ]]; then
    gitdir="$DOCKER_AUTH_SRC" # a bare repository (a mirror)
  elif [[ -d "$DOCKER_AUTH_SRC/.git" ]]; then
    gitdir="$DOCKER_AUTH_SRC/.git"
  else
    gitdir=""
  fi
  if [[ -n "$gitdir" ]]; then
    commit="$(git --git-dir="$gitdir" rev-parse --verify "$ref^{commit}")"
    mkdir -p "$work/src"
    git --git-dir="$gitdir" archive "$commit" | tar -x -C "$work/src"
  elif [[ -d "$DOCKER_AUTH_SRC/auth_server" ]]; then
    commit="unversioned-$(cd "$DOCKER_AUTH_SRC" && find auth_server -type f -name '*.go' -o -name go.sum | sort | xargs cat | sha256sum | cut -c1-12)"
    cp -r "$DOCKER_AUTH_SRC" "$work/src"
  else
    echo "DOCKER_AUTH_SRC=$DOCKER_AUTH_SRC is neither a git repository nor a directory with auth_server/" >&2
    exit 1
  fi
else
  echo "cloning https://github.com/cesanta/docker_auth (set DOCKER_AUTH_SRC to build from a local copy)"
  git clone --quiet https://github.com/cesanta/docker_auth "$work/src"
  git -C "$work/src" checkout --quiet "$ref"
  commit="$(git -C "$work/src" rev-parse HEAD)"
fi

short="${commit:0:12}"
dest="$root/.tools/docker_auth-$short"
if [[ -x "$dest/auth_server" ]]; then
  echo "docker_auth $short already built: $dest/auth_server"
  exit 0
fi

echo "building docker_auth $commit with $(go version)"
start=$(date +%s)
# -mod=mod lets go resolve what go.sum lacks through the proxy instead of stopping (not needed at c67e175,
# whose go.sum is complete: it builds with -mod=readonly too; kept for other refs); the source is not changed.
# Version/BuildID as the project's Makefile sets them, without its cgo strftime helper.
(cd "$work/src/auth_server" && GOFLAGS="${GOFLAGS:-} -mod=mod" go build -trimpath \
  -ldflags="-X main.Version=$short -X main.BuildID=portcullis-bench" -o "$work/auth_server" .)
mkdir -p "$dest"
mv "$work/auth_server" "$dest/auth_server"
echo "$commit" >"$dest/COMMIT"
echo "built $dest/auth_server in $(($(date +%s) - start)) s"

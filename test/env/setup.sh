#!/usr/bin/env bash
# Installs or builds, at the versions pinned in versions.env, every external binary the tests use:
# kube-apiserver, etcd, distribution v3, crane, helm, oras, regctl and SeaweedFS's weed built with Go, and for
# the cluster tests the kubelet, kube-scheduler, kube-controller-manager, kube-proxy and the node's pause and
# probe programs; Debian's docker-registry (Distribution 2.8), skopeo, OpenLDAP (slapd, ldap-utils),
# PostgreSQL 15, docker.io (dockerd, containerd), runc, CNI plugins, iptables and podman checked. Binaries land in
# $PORTCULLIS_TOOLS_DIR (default: .tools/ at the repository root, git-ignored), one folder per name and
# version, so a run with everything cached only checks that the files exist. With --demo, only what
# `portcullis demo` runs (control plane, registry, crane): a first demo does not wait for helm or slapd.
set -euo pipefail
demo_only=false
[ "${1:-}" = "--demo" ] && demo_only=true
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/versions.env"
tools=${PORTCULLIS_TOOLS_DIR:-$root/.tools}
mkdir -p "$tools"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
# Two cores and large Go packages: one compile at a time keeps peak memory predictable.
export GOMAXPROCS=${GOMAXPROCS:-2}

log() { printf '[setup] %s\n' "$*" >&2; }

# build NAME VERSION COMMAND...: runs COMMAND with $out set to the target binary unless it exists.
build() {
  local name=$1 version=$2; shift 2
  local dest="$tools/$name-$version"
  out="$dest/$name"
  if [ -x "$out" ]; then return 0; fi
  log "building $name $version"
  mkdir -p "$dest"
  local start=$SECONDS
  "$@"
  log "built $name $version in $((SECONDS - start))s"
}

# build_kube COMPONENT: a Kubernetes component from the pinned module, with the version ldflags kubectl and the
# kubelet's node status report.
build_kube() {
  (cd "$root/test/tools/kube-apiserver" && go build -trimpath -o "$out.tmp" \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)" \
    "k8s.io/kubernetes/cmd/$1") && mv "$out.tmp" "$out"
}
# The sandbox (pause) image's program and the cluster test's probe, packed into images by local/cluster-images.ts.
build_cluster_program() {
  (cd "$root/test/tools/cluster-images" && go build -trimpath -ldflags "-s -w" -o "$out.tmp" "./$1") && mv "$out.tmp" "$out"
}
build_weed() {
  (cd "$root/test/tools/seaweedfs" && go build -trimpath -ldflags "-s -w" -o "$out.tmp" github.com/seaweedfs/seaweedfs/weed) && mv "$out.tmp" "$out"
}
build_etcd() {
  (cd "$root/test/tools/etcd" && go build -trimpath -ldflags "-s -w" -o "$out.tmp" .) && mv "$out.tmp" "$out"
}
go_install() { # go_install MODULE_PATH VERSION
  GOBIN="$(dirname "$out")" go install -trimpath -ldflags "-s -w" "$1@$2"
}

need_debian=()
command -v skopeo >/dev/null || need_debian+=(skopeo)
[ -x /usr/bin/docker-registry ] || need_debian+=(docker-registry)
command -v kubectl >/dev/null || need_debian+=(kubernetes-client)
# OpenLDAP for the LDAP identity source's tests (the harness runs its own slapd on loopback).
if [ "$demo_only" = false ]; then
  [ -x /usr/sbin/slapd ] || need_debian+=(slapd)
  command -v ldapmodify >/dev/null || need_debian+=(ldap-utils)
  # PostgreSQL for the activity store's tests and bench (local/postgres.ts runs its own cluster).
  [ -x /usr/lib/postgresql/15/bin/postgres ] || need_debian+=(postgresql)
  # Private engines for the client matrix's docker and containerd (ctr) runs, and podman.
  [ -x /usr/sbin/dockerd ] || need_debian+=(docker.io)
  command -v podman >/dev/null || need_debian+=(podman)
  # The cluster tests' node (local/cluster.ts): containerd (with docker.io), runc, bridge CNI, iptables.
  command -v runc >/dev/null || need_debian+=(runc)
  [ -x /usr/lib/cni/bridge ] || need_debian+=(containernetworking-plugins)
  command -v iptables >/dev/null || need_debian+=(iptables)
fi
if [ ${#need_debian[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_debian[*]}"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_debian[@]}" >/dev/null
  else
    log "not root: install ${need_debian[*]} with apt-get"; exit 1
  fi
fi
# Debian's docker-registry, slapd, postgresql and docker.io packages start system services; the tests
# run their own.
for service in docker-registry slapd postgresql docker containerd; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service" || true
  fi
done

build etcd "$ETCD_VERSION" build_etcd
build kube-apiserver "$KUBERNETES_VERSION" build_kube kube-apiserver
build crane "$CRANE_VERSION" go_install github.com/google/go-containerregistry/cmd/crane "$CRANE_VERSION"
build registry "$DISTRIBUTION_V3_VERSION" go_install github.com/distribution/distribution/v3/cmd/registry "$DISTRIBUTION_V3_VERSION"
if [ "$demo_only" = false ]; then
  build helm "$HELM_VERSION" go_install helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
  # More clients for the client matrix (test/e2e/clients.test.ts).
  build oras "$ORAS_VERSION" go_install oras.land/oras/cmd/oras "$ORAS_VERSION"
  build regctl "$REGCTL_VERSION" go_install github.com/regclient/regclient/cmd/regctl "$REGCTL_VERSION"
  # The S3-compatible server for the S3 storage tests (local/s3.ts).
  build weed "$SEAWEEDFS_VERSION" build_weed
  # A real single-node cluster for test/cluster (local/cluster.ts): the node components from the same module
  # as kube-apiserver, with Debian's containerd, runc and CNI plugins (checked above).
  build kube-scheduler "$KUBERNETES_VERSION" build_kube kube-scheduler
  build kube-controller-manager "$KUBERNETES_VERSION" build_kube kube-controller-manager
  build kube-proxy "$KUBERNETES_VERSION" build_kube kube-proxy
  build kubelet "$KUBERNETES_VERSION" build_kube kubelet
  # Keyed by a hash of their sources (local/cluster-images.ts computes the same), not by a pinned version.
  programs=$(cd "$root/test/tools/cluster-images" && cat go.mod pause/main.go probe/main.go | sha256sum | cut -c1-12)
  build pause "$programs" build_cluster_program pause
  build probe "$programs" build_cluster_program probe
  # The Dockerfile's base image, for test/integration/image.test.ts (its FROM cannot be pulled here).
  bash "$here/base-image.sh"
fi
log "tools ready in $tools"

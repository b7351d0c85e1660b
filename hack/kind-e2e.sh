#!/usr/bin/env bash
# End to end on a kind cluster, for people with Docker: the same scenario test/cluster/*.test.ts runs on
# the real node of local/cluster.ts (hack/e2e-scenario/: the chart's values, the registry's shared
# volume, the users and grants, the client steps). Create a cluster whose NodePorts 30500 (registry) and
# 30501 (token server) answer on localhost, build and load the image, install the chart as the README
# does, then run every step of steps.tsv with crane from this machine: what is granted works, the rest
# must be refused by the registry itself (DENIED or UNAUTHORIZED). It needs Docker, kind, kubectl, helm
# and crane, and network access to pull kindest/node, the Dockerfile's base image and registry:3.0.0, so
# it does not run in this project's CI (no Docker, no registry there: the cluster suite runs instead).
#
#   hack/kind-e2e.sh            # create, test, delete the cluster
#   KEEP=1 hack/kind-e2e.sh     # leave the cluster running afterwards
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${CLUSTER:-portcullis-e2e}
NS=portcullis-system
IMAGE=portcullis:e2e
SCENARIO=hack/e2e-scenario
REGISTRY=localhost:30500
REALM=http://localhost:30501/token
DATA_DIR=/var/lib/portcullis-e2e-registry
for tool in docker kind kubectl helm crane; do
  command -v "$tool" >/dev/null || { echo "kind-e2e: $tool is required" >&2; exit 1; }
done

work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  [ -n "${KEEP:-}" ] || kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
}
trap cleanup EXIT

cat >"$work/kind.yaml" <<YAML
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
    extraPortMappings:
      - {containerPort: 30500, hostPort: 30500, listenAddress: 127.0.0.1}
      - {containerPort: 30501, hostPort: 30501, listenAddress: 127.0.0.1}
YAML
kind create cluster --name "$CLUSTER" --config "$work/kind.yaml" --wait 120s
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

# The registry's shared volume: a directory on the node that uid 65532 may write.
docker exec "$CLUSTER-control-plane" sh -c "mkdir -p $DATA_DIR && chmod 0777 $DATA_DIR"
sed "s|DATA_DIR|$DATA_DIR|" "$SCENARIO/storage.yaml" | kubectl apply -f -

helm install portcullis charts/portcullis -n "$NS" --create-namespace -f "$SCENARIO/values.yaml" \
  --set image.repository=portcullis --set image.tag=e2e --set image.pullPolicy=Never \
  --set registryResource.realm="$REALM" --set registryResource.service="$REGISTRY"

# The CRDs arrive with the release; the users and grants once the API serves them.
for _ in $(seq 60); do kubectl apply -f "$SCENARIO/objects.yaml" >/dev/null 2>&1 && break; sleep 2; done
kubectl apply -f "$SCENARIO/objects.yaml"
kubectl -n "$NS" wait --for=condition=Ready registry/main registryuser/alice registryuser/bob \
  repositorygrant/alice-team repositorygrant/bob-team-read --timeout=180s
for deployment in operator token-server registry; do
  kubectl -n "$NS" rollout status "deployment/portcullis-$deployment" --timeout=300s
done

failed=0
while IFS=$'\t' read -r user action ref expect; do
  case "$user" in '' | '#'*) continue ;; esac
  password=$(kubectl -n "$NS" get secret "$user-password" -o jsonpath='{.data.password}' | base64 -d)
  export DOCKER_CONFIG="$work/docker-$user"
  mkdir -p "$DOCKER_CONFIG"
  crane auth login "$REGISTRY" -u "$user" -p "$password" >/dev/null
  rc=0
  if [ "$action" = push ]; then
    # A new image for every push: with blobs already there, a refused push fails at the manifest PUT,
    # where crane 0.22 retries with the body spent and prints a Go error instead of the registry's code.
    echo "kind e2e scenario: $user $ref $RANDOM$RANDOM" >"$work/hello.txt"
    tar -cf "$work/layer.tar" -C "$work" hello.txt
    out=$(crane append --insecure --new_layer "$work/layer.tar" --new_tag "$REGISTRY/$ref" 2>&1) || rc=$?
  else
    out=$(crane pull --insecure "$REGISTRY/$ref" "$work/pulled.tar" 2>&1) || rc=$?
  fi
  if [ "$expect" = ok ] && [ "$rc" -ne 0 ]; then
    echo "FAIL: $user $action $ref should work: $out" >&2; failed=1
  elif [ "$expect" = refused ] && { [ "$rc" -eq 0 ] || ! grep -Eqi 'DENIED|UNAUTHORIZED' <<<"$out"; }; then
    echo "FAIL: $user $action $ref should be refused by the registry: $out" >&2; failed=1
  else
    echo "ok: $user $action $ref ($expect)"
  fi
done <"$SCENARIO/steps.tsv"
[ "$failed" -eq 0 ] || exit 1
echo "kind e2e: every step of $SCENARIO/steps.tsv as expected"

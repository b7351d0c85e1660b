#!/usr/bin/env bash
# End to end on a real (kind) cluster, for people with Docker: create a cluster, build and load the
# image, install the chart with the bundled Distribution registry, then push and pull through it
# from a Job inside the cluster. It needs Docker, kind, kubectl and helm, and network access to pull
# kindest/node, node:24 and crane's image, so it does not run in this project's CI (no Docker there).
#
#   hack/kind-e2e.sh            # create, test, delete the cluster
#   KEEP=1 hack/kind-e2e.sh     # leave the cluster running afterwards
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${CLUSTER:-portcullis-e2e}
NS=portcullis-system
IMAGE=portcullis:e2e
for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "kind-e2e: $tool is required" >&2; exit 1; }
done

cleanup() { [ -n "${KEEP:-}" ] || kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; }
trap cleanup EXIT

kind create cluster --name "$CLUSTER" --wait 120s
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

helm install portcullis charts/portcullis -n "$NS" --create-namespace --wait --timeout 5m \
  --set image.repository=portcullis --set image.tag=e2e --set image.pullPolicy=Never \
  --set registry.enabled=true \
  --set registryResource.service=portcullis-registry.$NS.svc.cluster.local:5000

kubectl -n "$NS" create secret generic alice-password --from-literal=password=alice-e2e-password
kubectl apply -f - <<YAML
apiVersion: portcullis.dev/v1alpha1
kind: RegistryUser
metadata: {name: alice, namespace: $NS}
spec:
  registryRef: {name: main}
  passwordSecretRef: {name: alice-password}
---
apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: alice-team, namespace: $NS}
spec:
  registryRef: {name: main}
  subjects: [{kind: User, name: alice}]
  repositories: ["team/**"]
  actions: [pull, push]
YAML
kubectl -n "$NS" wait --for=condition=Ready registryuser/alice repositorygrant/alice-team registry/main --timeout=120s
kubectl -n "$NS" rollout status deployment/portcullis-registry --timeout=180s

REG=portcullis-registry.$NS.svc.cluster.local:5000
kubectl -n "$NS" delete job crane-e2e --ignore-not-found
kubectl -n "$NS" apply -f - <<YAML
apiVersion: batch/v1
kind: Job
metadata: {name: crane-e2e}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: crane
          image: gcr.io/go-containerregistry/crane:debug
          command: ["sh", "-ec"]
          args:
            - |
              crane auth login --insecure $REG -u alice -p alice-e2e-password
              crane append --insecure -f /dev/null -t $REG/team/hello:1 --new_layer /etc/hostname 2>/dev/null || \
                crane copy --insecure gcr.io/go-containerregistry/crane:debug $REG/team/hello:1
              crane digest --insecure $REG/team/hello:1
              if crane copy --insecure $REG/team/hello:1 $REG/other/hello:1; then echo "push outside the grant was allowed" >&2; exit 1; fi
              echo "kind e2e: push and pull as granted, push outside refused"
YAML
kubectl -n "$NS" wait --for=condition=complete job/crane-e2e --timeout=180s || { kubectl -n "$NS" logs job/crane-e2e; exit 1; }
kubectl -n "$NS" logs job/crane-e2e

// What `portcullis demo` prints once everything is up: commands that work when pasted in order into a
// bash shell (test/e2e/demo.test.ts runs them), with every client's configuration inside the demo's own
// directory so nothing touches the user's ~/.docker, and the trust settings other clients need.
import type { RunningDemo } from './demo.js';

export function demoInstructions(demo: RunningDemo, crane: string): string {
  const h = demo.registryHost;
  const k = `kubectl --kubeconfig ${demo.kubeconfigPath}`;
  const anonymous = demo.samplePushed
    ? `  $CRANE digest ${h}/public/hello:1          # anonymous: public/** needs no login`
    : `  # (crane was not found, so no sample image was pushed to public/hello:1)`;
  return `
Portcullis demo is running (Ctrl-C stops everything).

  registry      https://${h}        (Distribution, trusting the operator's bundle)
  token server  ${demo.tokenUrl}/token
  kubeconfig    export KUBECONFIG=${demo.kubeconfigPath}
  CA            ${demo.caCertPath}   (clients must trust it: localhost certificates)
  audit log     ${demo.tokenServerLog}   (one JSON line per token decision: tail -f it)

Paste in order (bash; client settings stay in ${demo.dir}):
  export SSL_CERT_FILE=${demo.caCertPath} DOCKER_CONFIG=${demo.dir}/docker CRANE=${crane}
${anonymous}
  $CRANE auth login ${h} -u alice -p alice-example-password
  $CRANE push ${demo.sampleLayout} ${h}/team-a/app:1    # alice (group team-a) may push team-a/**
  $CRANE digest ${h}/team-a/app:1
  $CRANE auth login ${h} -u bob -p bob-example-password
  $CRANE push ${demo.sampleLayout} ${h}/team-a/app:2    # bob (team-b) may not: 401 Unauthorized (his token lacks push)
  ${k} -n registry patch repositorygrant team-b-write --type=merge -p '{"spec":{"repositories":["team-b/**","team-a/**"]}}'
  sleep 3; $CRANE push ${demo.sampleLayout} ${h}/team-a/app:2    # the grant now covers team-a/**
  ${k} get registries,registryusers,repositorygrants -A
  grep '"audit"' ${demo.tokenServerLog} | tail -3

Other clients trust the CA through ${demo.certsDir}/${h}/ca.crt:
  skopeo inspect --cert-dir ${demo.certsDir}/${h} docker://${h}/public/hello:1
  podman pull --cert-dir ${demo.certsDir}/${h} ${h}/public/hello:1
  ctr images pull --hosts-dir ${demo.certsDir} ${h}/public/hello:1                 # containerd
  oras manifest fetch --ca-file ${demo.caCertPath} --plain-http=false ${h}/public/hello:1    # oras speaks plain HTTP to localhost otherwise
  docker: sudo mkdir -p /etc/docker/certs.d/${h} && sudo cp ${demo.caCertPath} /etc/docker/certs.d/${h}/ca.crt

portcullis demo ready
`;
}

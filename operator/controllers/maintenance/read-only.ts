// The read-only switch of a maintenance window: one env variable in the registry container,
// REGISTRY_STORAGE_MAINTENANCE_READONLY={"enabled":true}, applied by server-side apply under a field
// manager of its own. Distribution overrides `storage.maintenance.readonly` from it without touching the
// rest of `storage` (checked on 2.8.2 and v3.0.0: the driver from the config file or from
// REGISTRY_STORAGE* stays; the `_ENABLED` spelling panics both at start, "readonly config key must
// contain additional keys"). While on, both versions answer every write (blob upload, manifest put,
// delete) with 405 Method Not Allowed and serve pulls.
//
// Why a field manager of its own: the keys controller applies the operator's other wiring (token auth,
// bundle, notifications, storage) under FIELD_MANAGER on every reconcile. Were the switch in that apply,
// every wiring step would need to know about windows, or would remove the switch mid-collection. Owned
// separately, the keys controller's apply neither sets nor drops it, and applying this manager's patch
// without the variable removes it (server-side apply deletes fields their only manager stops applying).

import { objectPath, type KubeClient } from '../../../kube/request.js';
import { deployments, type Deployment } from '../deployment.js';

export const READ_ONLY_ENV = 'REGISTRY_STORAGE_MAINTENANCE_READONLY';
export const READ_ONLY_VALUE = '{"enabled":true}';
export const MAINTENANCE_FIELD_MANAGER = 'portcullis-operator-maintenance';

/** The apply configuration: the switch on, or (readOnly false) nothing, which removes it. */
export function readOnlyApplyPatch(target: { namespace: string; deploymentName: string; containerName: string; readOnly: boolean }): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: target.deploymentName, namespace: target.namespace },
    spec: {
      template: {
        spec: {
          containers: [{ name: target.containerName, ...(target.readOnly ? { env: [{ name: READ_ONLY_ENV, value: READ_ONLY_VALUE }] } : {}) }],
        },
      },
    },
  };
}

export function applyReadOnly(
  client: KubeClient,
  target: { namespace: string; deploymentName: string; containerName: string; readOnly: boolean },
): Promise<Deployment> {
  return client.apply<Deployment>(objectPath(deployments, target.namespace, target.deploymentName), readOnlyApplyPatch(target), MAINTENANCE_FIELD_MANAGER);
}

/** Whether the container's template carries the switch. */
export function hasReadOnlySwitch(deployment: Deployment, containerName: string): boolean {
  const container = deployment.spec?.template?.spec?.containers?.find((c) => c.name === containerName);
  return container?.env?.some((e) => e.name === READ_ONLY_ENV && e.value === READ_ONLY_VALUE) ?? false;
}

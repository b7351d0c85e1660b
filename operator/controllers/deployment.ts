// Wires the user's Distribution Deployment to trust Portcullis, by server-side apply of ONLY the fields
// the operator owns: four REGISTRY_AUTH_TOKEN_* variables, the bundle volume and its mount in the
// registry container, and the pod-template annotation that carries the bundle hash. Changing that
// annotation is what rolls the Deployment when the trust bundle changes. Every list entry is named by
// its list-map key (container name, env name, volume name, mountPath), so the apply merges into the
// user's lists instead of replacing them: their own env, resources, labels and volumes are untouched.
// With an activity server (notifications.ts), also REGISTRY_NOTIFICATIONS_ENDPOINTS from the Registry's
// notifications Secret and a second annotation with that Secret's hash; without one, neither is in the
// apply, so server-side apply removes them if an earlier run had set them. With spec.storage, also the
// storage settings of storage.ts (applied only once its Secret or claim exists).

import type { RegistrySpec } from '../../crds/types.js';
import { Reasons } from '../../policy/reasons.js';
import { FIELD_MANAGER } from '../writes/apply.js';
import { getIfExists, objectPath, type KubeClient, type ResourceType } from '../../kube/request.js';
import { Annotations } from '../../wire/labels.js';
import { bundleConfigMapName } from '../../wire/names.js';
import { DEFAULT_ISSUER } from '../../policy/compile/registries.js';
import { ENDPOINTS_ENV, ENDPOINTS_KEY } from '../../wire/notification-endpoint.js';
import type { DeploymentLike } from '../signing/material.js';
import type { NotificationsRef } from './notifications.js';
import { storageProblem, storageWiring } from './storage.js';

export const deployments: ResourceType = { base: '/apis/apps/v1', plural: 'deployments', namespaced: true };

export const BUNDLE_VOLUME = 'portcullis-bundle';
export const BUNDLE_MOUNT_PATH = '/etc/portcullis/bundle';
export const BUNDLE_FILE = `${BUNDLE_MOUNT_PATH}/bundle.pem`;

/** A Deployment as far as wiring needs it. */
export interface Deployment extends DeploymentLike {
  apiVersion?: string;
  kind?: string;
  metadata: DeploymentLike['metadata'] & { namespace?: string; labels?: Record<string, string>; resourceVersion?: string };
  spec?: DeploymentLike['spec'] & {
    template?: {
      metadata?: { annotations?: Record<string, string>; labels?: Record<string, string> };
      spec?: {
        containers?: { name: string; env?: { name: string; value?: string }[]; [k: string]: unknown }[];
        volumes?: { name: string }[];
        automountServiceAccountToken?: boolean;
      };
    };
  };
}

export class ContainerNotFoundError extends Error {
  constructor(deployment: string, container: string | undefined) {
    super(container === undefined ? `Deployment ${deployment} has no containers` : `Deployment ${deployment} has no container named ${container}`);
    this.name = 'ContainerNotFoundError';
  }
}

/** The registry container: `spec.distribution.container`, else the first one. */
export function registryContainerName(deployment: Deployment, spec: RegistrySpec): string {
  const containers = deployment.spec?.template?.spec?.containers ?? [];
  const wanted = spec.distribution?.container;
  const found = wanted === undefined ? containers[0] : containers.find((c) => c.name === wanted);
  if (!found) throw new ContainerNotFoundError(deployment.metadata.name, wanted);
  return found.name;
}

export interface WiringInput {
  namespace: string;
  deploymentName: string;
  containerName: string;
  registryName: string;
  spec: RegistrySpec;
  bundleHash: string;
  /** The notifications Secret to read the endpoint from; undefined without an activity server. */
  notifications?: NotificationsRef;
}

/** The apply configuration: nothing but the operator's fields. */
export function deploymentApplyPatch(input: WiringInput): Record<string, unknown> {
  const storage = storageWiring(input.spec.storage);
  const env = [
    ...(input.spec.realm !== undefined ? [{ name: 'REGISTRY_AUTH_TOKEN_REALM', value: input.spec.realm }] : []),
    { name: 'REGISTRY_AUTH_TOKEN_SERVICE', value: input.spec.service },
    { name: 'REGISTRY_AUTH_TOKEN_ISSUER', value: input.spec.issuer ?? DEFAULT_ISSUER },
    { name: 'REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE', value: BUNDLE_FILE },
    // The token stays in the Secret: the Deployment names it, the kubelet resolves it.
    ...(input.notifications === undefined
      ? []
      : [{ name: ENDPOINTS_ENV, valueFrom: { secretKeyRef: { name: input.notifications.secretName, key: ENDPOINTS_KEY } } }]),
    ...storage.env,
  ];
  const annotations: Record<string, string> = { [Annotations.bundleHash]: input.bundleHash };
  if (input.notifications !== undefined) annotations[Annotations.notificationsHash] = input.notifications.hash;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: input.deploymentName, namespace: input.namespace },
    spec: {
      template: {
        metadata: { annotations },
        spec: {
          containers: [
            { name: input.containerName, env, volumeMounts: [{ name: BUNDLE_VOLUME, mountPath: BUNDLE_MOUNT_PATH, readOnly: true }, ...storage.volumeMounts] },
          ],
          volumes: [{ name: BUNDLE_VOLUME, configMap: { name: bundleConfigMapName(input.registryName) } }, ...storage.volumes],
        },
      },
    },
  };
}

export function getDeployment(client: KubeClient, namespace: string, name: string): Promise<Deployment | undefined> {
  return getIfExists<Deployment>(client, objectPath(deployments, namespace, name));
}

/**
 * The Portcullis component a Deployment is (the chart labels each of its Deployments part-of portcullis
 * with its component), or undefined for any other, the chart's bundled registry included. Such a
 * Deployment is never wired nor copied into a collector Job: in the chart's namespace, whoever may edit
 * the Registry could otherwise point it at the activity server and run an image of their choosing with
 * its Secrets (garbageCollection.image), or have the operator rewrite and roll the token server.
 */
export function portcullisComponentOf(deployment: Deployment): string | undefined {
  const labels = deployment.metadata.labels ?? {};
  if (labels['app.kubernetes.io/part-of'] !== 'portcullis') return undefined;
  const component = labels['app.kubernetes.io/component'];
  return component === 'registry' ? undefined : (component ?? 'unnamed component');
}

/** Why spec.distribution.deployment cannot be wired: it does not exist, or it is Portcullis's own. */
export function wiringRefusal(name: string, namespace: string, deployment: Deployment | undefined): { reason: string; message: string } | undefined {
  if (deployment === undefined) return { reason: Reasons.DeploymentNotFound, message: `Deployment ${name} not found in ${namespace}` };
  const component = portcullisComponentOf(deployment);
  if (component === undefined) return undefined;
  return {
    reason: Reasons.DeploymentNotAllowed,
    message: `Deployment ${namespace}/${name} is Portcullis's own ${component} (app.kubernetes.io/part-of: portcullis), not a registry: it is neither wired nor collected`,
  };
}

/** Applies the wiring; returns the Deployment as the API server now has it. */
export function applyDeploymentWiring(client: KubeClient, input: WiringInput): Promise<Deployment> {
  return client.apply<Deployment>(objectPath(deployments, input.namespace, input.deploymentName), deploymentApplyPatch(input), FIELD_MANAGER);
}

/**
 * The one wiring step: applies the operator's fields to the registry Deployment with `bundleHash` (and
 * the notifications hash) in the pod template (a new hash rolls it). A Deployment without the named container is a problem to
 * report, not an error to retry: the user must fix the Registry or the Deployment.
 */
export async function wireDeployment(
  client: KubeClient,
  target: {
    namespace: string;
    registryName: string;
    spec: RegistrySpec;
    deployment: Deployment;
    bundleHash: string;
    notifications: NotificationsRef | undefined;
  },
): Promise<{ deployment: Deployment } | { problem: { reason: string; message: string } }> {
  const problem = await storageProblem(client, target.namespace, target.spec.storage);
  if (problem !== undefined) return { problem };
  try {
    const deployment = await applyDeploymentWiring(client, {
      namespace: target.namespace,
      deploymentName: target.deployment.metadata.name,
      containerName: registryContainerName(target.deployment, target.spec),
      registryName: target.registryName,
      spec: target.spec,
      bundleHash: target.bundleHash,
      ...(target.notifications === undefined ? {} : { notifications: target.notifications }),
    });
    return { deployment };
  } catch (error) {
    if (!(error instanceof ContainerNotFoundError)) throw error;
    return { problem: { reason: Reasons.ContainerNotFound, message: error.message } };
  }
}

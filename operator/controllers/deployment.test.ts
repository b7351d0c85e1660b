import { describe, expect, it } from 'vitest';
import { BUNDLE_FILE, ContainerNotFoundError, deploymentApplyPatch, registryContainerName, wiringRefusal, type Deployment } from './deployment.js';

const deployment = (containers: string[]): Deployment => ({
  metadata: { name: 'registry' },
  spec: { template: { spec: { containers: containers.map((name) => ({ name, image: 'registry:2' })) } } },
});

describe('registry container', () => {
  it.each([
    ['without spec.distribution.container the first container is the registry', ['registry', 'sidecar'], undefined, 'registry'],
    ['spec.distribution.container picks a container by name', ['sidecar', 'registry'], 'registry', 'registry'],
  ])('%s', (_name, containers, wanted, expected) => {
    expect(
      registryContainerName(deployment(containers), { service: 's', distribution: { deployment: 'registry', ...(wanted ? { container: wanted } : {}) } }),
    ).toBe(expected);
  });
  it.each([
    ['a named container that does not exist is an error', ['registry'], 'nope'],
    ['a Deployment without containers is an error', [], undefined],
  ])('%s', (_name, containers, wanted) => {
    expect(() => registryContainerName(deployment(containers), { service: 's', distribution: { ...(wanted ? { container: wanted } : {}) } })).toThrow(
      ContainerNotFoundError,
    );
  });
});

describe('which Deployments may be wired', () => {
  const labelled = (labels: Record<string, string>): Deployment => ({ metadata: { name: 'd', labels } });
  const part = { 'app.kubernetes.io/part-of': 'portcullis' };
  it.each<[string, Deployment | undefined, string | undefined]>([
    ['a missing one is DeploymentNotFound', undefined, 'DeploymentNotFound'],
    ['an unlabelled one is wired', labelled({}), undefined],
    ["the chart's bundled registry is wired", labelled({ ...part, 'app.kubernetes.io/component': 'registry' }), undefined],
    ["the chart's activity server is refused", labelled({ ...part, 'app.kubernetes.io/component': 'activity' }), 'DeploymentNotAllowed'],
    ["the chart's token server is refused", labelled({ ...part, 'app.kubernetes.io/component': 'token-server' }), 'DeploymentNotAllowed'],
    ['part of Portcullis without a component is refused', labelled(part), 'DeploymentNotAllowed'],
    ['part of another product is wired', labelled({ 'app.kubernetes.io/part-of': 'other', 'app.kubernetes.io/component': 'activity' }), undefined],
  ])('%s', (_name, deployment, reason) => {
    expect(wiringRefusal('d', 'ns', deployment)?.reason).toBe(reason);
  });
});

describe('apply patch', () => {
  const patch = deploymentApplyPatch({
    namespace: 'registry',
    deploymentName: 'registry',
    containerName: 'distribution',
    registryName: 'main',
    spec: { service: 'registry.example.com', realm: 'https://auth.example.com/token' },
    bundleHash: 'h1',
  }) as {
    spec: {
      template: {
        metadata: unknown;
        spec: { containers: { name: string; env: { name: string; value: string }[]; [k: string]: unknown }[]; volumes: unknown[]; [k: string]: unknown };
      };
      [k: string]: unknown;
    };
  };

  it('names the container by its list-map key and sets only env, the bundle mount and the hash annotation', () => {
    expect(Object.keys(patch.spec)).toEqual(['template']);
    expect(Object.keys(patch.spec.template.spec).sort()).toEqual(['containers', 'volumes']);
    const [container] = patch.spec.template.spec.containers;
    expect(Object.keys(container!).sort()).toEqual(['env', 'name', 'volumeMounts']);
    expect(container!.name).toBe('distribution');
    expect(patch.spec.template.metadata).toEqual({ annotations: { 'portcullis.dev/bundle-hash': 'h1' } });
    expect(patch.spec.template.spec.volumes).toEqual([{ name: 'portcullis-bundle', configMap: { name: 'portcullis-main-bundle' } }]);
  });

  it('the token settings come from the Registry, the issuer defaulting to portcullis', () => {
    expect(Object.fromEntries(patch.spec.template.spec.containers[0]!.env.map((e) => [e.name, e.value]))).toEqual({
      REGISTRY_AUTH_TOKEN_REALM: 'https://auth.example.com/token',
      REGISTRY_AUTH_TOKEN_SERVICE: 'registry.example.com',
      REGISTRY_AUTH_TOKEN_ISSUER: 'portcullis',
      REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: BUNDLE_FILE,
    });
  });
});

describe('apply patch with an activity server', () => {
  const input = {
    namespace: 'registry',
    deploymentName: 'registry',
    containerName: 'distribution',
    registryName: 'main',
    spec: { service: 'registry.example.com' },
    bundleHash: 'h1',
  };
  type Patch = {
    spec: {
      template: { metadata: { annotations: Record<string, string> }; spec: { containers: { env: { name: string; value?: string; valueFrom?: unknown }[] }[] } };
    };
  };
  const withNotifications = deploymentApplyPatch({ ...input, notifications: { secretName: 'portcullis-main-notifications', hash: 'n1' } }) as Patch;
  const without = deploymentApplyPatch(input) as Patch;

  it('REGISTRY_NOTIFICATIONS_ENDPOINTS comes from the notifications Secret, so the token is not in the Deployment', () => {
    const env = withNotifications.spec.template.spec.containers[0]!.env.find((e) => e.name === 'REGISTRY_NOTIFICATIONS_ENDPOINTS');
    expect(env).toEqual({
      name: 'REGISTRY_NOTIFICATIONS_ENDPOINTS',
      valueFrom: { secretKeyRef: { name: 'portcullis-main-notifications', key: 'endpoints' } },
    });
  });

  it('the notifications hash sits beside the bundle hash on the pod template', () => {
    expect(withNotifications.spec.template.metadata.annotations).toEqual({ 'portcullis.dev/bundle-hash': 'h1', 'portcullis.dev/notifications-hash': 'n1' });
  });

  it('without an activity server the patch is what it always was: no endpoint variable, no second annotation', () => {
    expect(without.spec.template.spec.containers[0]!.env.map((e) => e.name)).not.toContain('REGISTRY_NOTIFICATIONS_ENDPOINTS');
    expect(without.spec.template.metadata.annotations).toEqual({ 'portcullis.dev/bundle-hash': 'h1' });
    const { notifications: _dropped, ...rest } = { ...input, notifications: undefined };
    expect(without).toEqual(deploymentApplyPatch(rest));
  });
});

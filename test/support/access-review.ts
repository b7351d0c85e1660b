// The API server's own authorization answer, asked as a SubjectAccessReview: what a ServiceAccount may
// do, judged by the authorizer that judges its real requests (with the groups its token carries).
import type { KubeClient } from '../../kube/request.js';

export interface ResourceAttributes {
  verb: string;
  group: string;
  resource: string;
  namespace?: string;
  subresource?: string;
  name?: string;
}

/** `status.allowed` of a SubjectAccessReview for ServiceAccount `namespace/name`, asked by `admin`. */
export async function serviceAccountMay(
  admin: KubeClient,
  serviceAccount: { namespace: string; name: string },
  resourceAttributes: ResourceAttributes,
): Promise<boolean> {
  const { namespace, name } = serviceAccount;
  const review = await admin.request<{ status: { allowed: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: `system:serviceaccount:${namespace}:${name}`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
        resourceAttributes,
      },
    },
  });
  return review.status.allowed;
}

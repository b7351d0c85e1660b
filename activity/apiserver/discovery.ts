// Discovery as the aggregator and kubectl read it: the group list, the group, and the group version's
// resources. The aggregator fetches the group version's document to mark the APIService Available and
// to merge it into the cluster's discovery; kubectl reads the merged document to map `registryevents`
// to this group.

import { GROUP, GROUP_VERSION, RESOURCES, VERSION } from './group.js';

const groupVersion = { groupVersion: GROUP_VERSION, version: VERSION };

export const apiGroup = { kind: 'APIGroup', apiVersion: 'v1', name: GROUP, versions: [groupVersion], preferredVersion: groupVersion };

export const apiGroupList = { kind: 'APIGroupList', apiVersion: 'v1', groups: [{ name: GROUP, versions: [groupVersion], preferredVersion: groupVersion }] };

export const apiResourceList = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: GROUP_VERSION,
  resources: RESOURCES.map((r) => ({ ...r })),
};

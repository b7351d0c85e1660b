// Kubernetes Events (events.k8s.io/v1) about Portcullis objects: what changed and what failed. The
// controller records an Event only when it writes a change, so Events do not repeat on every resync.
// Recording is best effort: a failed Event is logged, never a reconcile error.

import { namespaceOf } from '../../policy/object-keys.js';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { collectionPath, Resources, type KubeClient } from '../../kube/request.js';

export interface Regarding {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string };
}

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  constructor(
    private readonly client: KubeClient,
    private readonly instance: string,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async record(regarding: Regarding, type: EventType, reason: string, note: string): Promise<void> {
    const namespace = namespaceOf(regarding);
    const at = this.now();
    const event = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `${regarding.metadata.name}.${at.getTime().toString(16)}${randomBytes(4).toString('hex')}`, namespace },
      eventTime: at.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z'),
      reportingController: 'portcullis.dev/operator',
      reportingInstance: this.instance,
      action: 'Reconcile',
      type,
      reason,
      // The API server caps notes at 1 KiB.
      note: note.length > 1000 ? `${note.slice(0, 997)}...` : note,
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        name: regarding.metadata.name,
        namespace,
        ...(regarding.metadata.uid ? { uid: regarding.metadata.uid } : {}),
      },
    };
    try {
      await this.client.request('POST', collectionPath(Resources.events, namespace), { body: event });
    } catch (error) {
      this.log.warn(
        { reason, object: `${namespace}/${regarding.metadata.name}`, err: error instanceof Error ? error.message : String(error) },
        'could not record event',
      );
    }
  }
}

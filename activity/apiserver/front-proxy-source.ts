// Keeps the front-proxy configuration current: reads the kube-apiserver's published ConfigMap at start
// and again every `intervalMs` (its CA may be rotated), and reports a change once, when it happens.
// A failed read keeps the last good configuration: the API server being away must not lock the
// aggregator out of a server that already knew it.

import { KubeApiError, objectPath, Resources, type KubeClient } from '../../kube/request.js';
import { AUTHENTICATION_CONFIGMAP, parseFrontProxyConfig, type FrontProxyConfig } from './front-proxy.js';

export interface FrontProxySourceOptions {
  client: KubeClient;
  /** Default 30 s. */
  intervalMs?: number;
  onChange(config: FrontProxyConfig): void;
  onError(message: string): void;
}

export interface FrontProxySource {
  current(): FrontProxyConfig | undefined;
  /** Resolves after the first read, successful or not. */
  start(): Promise<void>;
  stop(): void;
}

export function frontProxySource(options: FrontProxySourceOptions): FrontProxySource {
  let config: FrontProxyConfig | undefined;
  let fingerprint = '';
  let timer: NodeJS.Timeout | undefined;
  const path = objectPath(Resources.configMaps, AUTHENTICATION_CONFIGMAP.namespace, AUTHENTICATION_CONFIGMAP.name);

  const read = async (): Promise<void> => {
    try {
      const cm = await options.client.get<{ data?: Record<string, string> }>(path);
      const next = parseFrontProxyConfig(cm.data);
      const nextFingerprint = JSON.stringify(next);
      if (nextFingerprint === fingerprint) return;
      config = next;
      fingerprint = nextFingerprint;
      options.onChange(next);
    } catch (error) {
      const reason =
        error instanceof KubeApiError && error.code === 403
          ? `${error.message} (bind Role kube-system/extension-apiserver-authentication-reader)`
          : (error as Error).message;
      options.onError(`cannot read the front-proxy configuration: ${reason}`);
    }
  };

  return {
    current: () => config,
    async start() {
      await read();
      timer = setInterval(() => void read(), options.intervalMs ?? 30_000);
      timer.unref();
    },
    stop() {
      if (timer !== undefined) clearInterval(timer);
    },
  };
}

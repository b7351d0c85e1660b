// A small OIDC issuer on loopback for the tests and `npm run bench`: discovery and a key set over HTTPS
// (a throwaway CA), ES256 tokens with whatever claims the caller adds, and a key rotation that publishes a
// new key under a new `kid`, as GitHub's, GitLab's or a cluster's issuer does.
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { exportJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import { createTestTLS } from './tls.js';

export interface LocalIssuer {
  /** https://localhost:PORT: the issuer URL and the `iss` of its tokens. */
  url: string;
  caPem: string;
  /** The current signing key's public half. */
  publicKey(): KeyObject;
  /** An ES256 token: `iss`, `aud`, `sub`, `iat`, `exp` (10 minutes) and `jti`, then `claims` over them. */
  sign(subject: string, audience: string, claims?: JWTPayload, header?: { kid?: string }): Promise<string>;
  /** A new signing key under a new kid; the old one stays published. */
  rotate(): Promise<void>;
  /** Requests served for the key set (how often a verifier re-read it). */
  keySetReads(): number;
  /** From now on the key set is answered 503 (true) or served again (false). */
  failKeySet(failing: boolean): void;
  close(): Promise<void>;
}

interface Key {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: JWK;
}

async function newKey(n: number): Promise<Key> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = `local-${n}`;
  return { kid, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

export async function startLocalIssuer(dir: string): Promise<LocalIssuer> {
  const tls = await createTestTLS(join(dir, 'issuer-tls'));
  const keys: Key[] = [await newKey(1)];
  let url = '';
  let reads = 0;
  let keySetFailing = false;
  const server = createServer({ cert: await readFile(tls.serverCertPath), key: await readFile(tls.serverKeyPath) }, (req, res) => {
    let body: object | undefined;
    if (req.url === '/.well-known/openid-configuration') body = { issuer: url, jwks_uri: `${url}/keys` };
    if (req.url === '/keys') {
      reads++;
      if (keySetFailing) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end('{}');
        return;
      }
      body = { keys: keys.map((k) => k.jwk) };
    }
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://localhost:${(server.address() as { port: number }).port}`;
  const current = (): Key => keys[keys.length - 1]!;
  return {
    url,
    caPem: await readFile(tls.caCertPath, 'utf8'),
    publicKey: () => current().publicKey,
    sign: (subject, audience, claims = {}, header = {}) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: url, aud: audience, sub: subject, iat: now, exp: now + 600, jti: randomUUID(), ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: header.kid ?? current().kid })
        .sign(current().privateKey);
    },
    rotate: async () => {
      keys.push(await newKey(keys.length + 1));
    },
    keySetReads: () => reads,
    failKeySet: (failing) => {
      keySetFailing = failing;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

// Reads and checks a signing-key set. A set that parses but holds a key node:crypto cannot load, or a
// chain whose leaf does not hold that key, is refused as a whole so the last good set stays in use.

import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { SIGNING_FORMAT, type SigningKeySet } from '../../policy/signing.js';

function fail(message: string): never {
  throw new Error(`invalid signing key set: ${message}`);
}

export function parseSigningKeySet(text: string): SigningKeySet {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The parser's message can quote the text, which holds private keys.
    fail('not valid JSON');
  }
  if (typeof value !== 'object' || value === null) fail('not a JSON object');
  const set = value as Partial<SigningKeySet>;
  if (set.format !== SIGNING_FORMAT) fail(`format must be ${JSON.stringify(SIGNING_FORMAT)}`);
  if (!Array.isArray(set.keys)) fail('keys must be a list');
  if (!Array.isArray(set.refreshKeys)) fail('refreshKeys must be a list');
  for (const [i, key] of set.keys.entries()) {
    const where = `keys[${i}]`;
    if (typeof key !== 'object' || key === null) fail(`${where} must be an object`);
    if (typeof key.kid !== 'string' || key.kid === '') fail(`${where}.kid must be a non-empty string`);
    if (key.algorithm !== 'ES256' && key.algorithm !== 'RS256') fail(`${where}.algorithm must be ES256 or RS256`);
    if (!Array.isArray(key.certificateChain) || key.certificateChain.length === 0) fail(`${where}.certificateChain must not be empty`);
    if (Number.isNaN(Date.parse(key.notBefore)) || Number.isNaN(Date.parse(key.notAfter))) fail(`${where} needs RFC 3339 notBefore/notAfter`);
    if (key.registry !== undefined && typeof key.registry !== 'string') fail(`${where}.registry must be a string`);
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(key.certificateChain[0] as string);
      for (const pem of key.certificateChain.slice(1)) new X509Certificate(pem);
    } catch {
      fail(`${where}.certificateChain holds something that is not a PEM certificate`);
    }
    let publicJwk: unknown;
    try {
      publicJwk = createPublicKey(createPrivateKey(key.privateKey)).export({ format: 'jwk' });
    } catch {
      fail(`${where}.privateKey is not a PEM private key`);
    }
    if (JSON.stringify(leaf.publicKey.export({ format: 'jwk' })) !== JSON.stringify(publicJwk)) {
      fail(`${where}: the leaf certificate does not hold the private key's public key`);
    }
  }
  for (const [i, key] of set.refreshKeys.entries()) {
    const where = `refreshKeys[${i}]`;
    if (typeof key !== 'object' || key === null) fail(`${where} must be an object`);
    if (typeof key.kid !== 'string' || key.kid === '') fail(`${where}.kid must be a non-empty string`);
    if (typeof key.secret !== 'string' || Buffer.from(key.secret, 'base64').length < 32) fail(`${where}.secret must be base64 of at least 32 bytes`);
    if (Number.isNaN(Date.parse(key.createdAt))) fail(`${where}.createdAt must be RFC 3339`);
  }
  return set as SigningKeySet;
}

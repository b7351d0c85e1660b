// Which key pair each JWS algorithm needs, in one place.

import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { SigningAlgorithm } from '../policy/types.js';

const generate = promisify(generateKeyPair);

export interface KeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
}

/** `purpose: 'ca'` gets a larger RSA modulus: the CA outlives many signing keys. */
export async function generateKeyPairFor(algorithm: SigningAlgorithm, purpose: 'ca' | 'signing'): Promise<KeyPair> {
  switch (algorithm) {
    case 'ES256':
      return generate('ec', { namedCurve: 'P-256' });
    case 'RS256':
      return generate('rsa', { modulusLength: purpose === 'ca' ? 3072 : 2048 });
    default:
      throw new Error(`unsupported signing algorithm ${String(algorithm)}`);
  }
}

/** The JWS algorithm a private/public key can sign or verify with, or undefined if none we support. */
export function algorithmOfKey(key: KeyObject): SigningAlgorithm | undefined {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  return undefined;
}

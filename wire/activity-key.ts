// The activity key as both of its readers see it: the activity server (which recomputes each Registry's
// notification token) and the operator (which writes the token into the Registry's endpoint Secret).
// One reader for both, so a key file with a trailing newline cannot make them derive different tokens.

import { readFile } from 'node:fs/promises';

/** Shorter keys are refused: the tokens are HMAC-SHA256, and a short key is a guessable one. */
export const MIN_ACTIVITY_KEY_BYTES = 32;

/**
 * The key in a file's bytes: trailing newlines are dropped (a key written by `echo` or an editor is the
 * same key), nothing else is changed. Errors name the file and the rule, never the content.
 */
export function parseActivityKey(content: Buffer, source: string): Buffer {
  let end = content.length;
  while (end > 0 && (content[end - 1] === 0x0a || content[end - 1] === 0x0d)) end -= 1;
  const key = content.subarray(0, end);
  if (key.length < MIN_ACTIVITY_KEY_BYTES) {
    throw new Error(`activity key ${source} is too short: it needs at least ${MIN_ACTIVITY_KEY_BYTES} bytes (it has ${key.length})`);
  }
  return Buffer.from(key);
}

export async function readActivityKey(path: string): Promise<Buffer> {
  let content: Buffer;
  try {
    content = await readFile(path);
  } catch (error) {
    throw new Error(`cannot read activity key ${path}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: error });
  }
  return parseActivityKey(content, path);
}

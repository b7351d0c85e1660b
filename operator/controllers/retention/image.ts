// The image scheduled retention runs use when the operator is not told (`--retention-image`, which the
// chart always passes): the released Portcullis image of this very version, the chart's default
// repository with package.json's version, so an operator never schedules a runner of another release.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PORTCULLIS_IMAGE_REPOSITORY = 'ghcr.io/portcullis-dev/portcullis';

// From source (operator/controllers/retention/) package.json is three levels up; from the build
// (dist/operator/controllers/retention/) four.
function packageVersion(): string {
  for (const relative of ['../../../package.json', '../../../../package.json']) {
    const path = fileURLToPath(new URL(relative, import.meta.url));
    if (!existsSync(path)) continue;
    const version = (JSON.parse(readFileSync(path, 'utf8')) as { version?: unknown }).version;
    if (typeof version === 'string' && version !== '') return version;
  }
  throw new Error(`package.json not found above ${fileURLToPath(import.meta.url)}: pass --retention-image`);
}

export function defaultRetentionImage(): string {
  return `${PORTCULLIS_IMAGE_REPOSITORY}:${packageVersion()}`;
}

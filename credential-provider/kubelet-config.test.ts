// The CredentialProviderConfig snippets users copy (README, identity-sources.md): each caches per token
// (the token is bound to its pod; per ServiceAccount, a second pod would pull with a token that dies with
// the first) and names with --registry exactly the hosts matchImages sends it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../local/tools.js';

interface Provider {
  name: string;
  matchImages: string[];
  args?: string[];
  tokenAttributes?: { cacheType?: string; requireServiceAccount?: boolean; serviceAccountTokenAudience?: string };
}

function configsIn(file: string): Provider[] {
  const text = readFileSync(join(repoRoot, file), 'utf8');
  const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => b.includes('kind: CredentialProviderConfig'));
  return blocks.flatMap((b) => (parse(b) as { providers: Provider[] }).providers.filter((p) => p.name === 'portcullis'));
}

describe.each(['README.md', 'docs/identity-sources.md'])('the kubelet configuration in %s', (file) => {
  const providers = configsIn(file);
  it('is there', () => expect(providers).toHaveLength(1));
  it.each(providers.map((p, i) => [i, p] as const))('provider %i caches per token and answers only for the hosts it matches', (_i, provider) => {
    expect(provider.tokenAttributes).toMatchObject({ cacheType: 'Token', requireServiceAccount: true });
    const args = provider.args ?? [];
    const registries = args.flatMap((a, i) => (a === '--registry' ? [args[i + 1]] : []));
    expect(registries).toEqual(provider.matchImages);
  });
});

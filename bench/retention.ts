// `npm run bench` (part, BENCH_ONLY=retention): a retention dry run over 1,000 repositories of 100 tags
// each on a real Distribution v3, whose filesystem storage is written straight to disk
// (retention-storage.ts). No cluster: the runner's token source signs registry tokens here with a key
// the registry trusts (as the activity server would), and its trail is empty (every tag is tagged, so
// the trail would only add push times). Measured beside it, against the same registry with the same
// concurrency and tokens: a bare loop making the calls every run must make (catalog, each repository's
// tags, a HEAD per tag). The policy keeps the newest 10 releases of each repository under the default
// cap of 100: it plans, finds 90,000 candidates and stops there (CapExceeded), having made the same calls
// as the bare loop. BENCH_RETENTION_BYTES=1 adds a run with the cap raised, which also GETs every
// manifest of a repository with candidates to estimate the bytes freed (twice the calls).
// BENCH_RETENTION_REPOSITORIES and BENCH_RETENTION_TAGS shrink the registry for a quick look.
import http from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RetentionPolicyResource } from '../crds/types.js';
import { Limiter, mapLimit } from '../lifecycle/pool.js';
import { MANIFEST_TYPES } from '../lifecycle/registry-api.js';
import { DEFAULT_CONCURRENCY, runRetention } from '../lifecycle/runner.js';
import { REPOSITORIES_PER_TOKEN } from '../lifecycle/scoped-registry.js';
import type { IssuedToken, TokenSource, TrailSource } from '../lifecycle/sources.js';
import { startRegistry } from '../local/registry.js';
import { initKeysDir } from '../pki/init.js';
import { AccessTokenSigner, newTokenId, type AccessEntry } from '../wire/access-token.js';
import { parseSigningKeySet } from '../wire/signing-key-set.js';
import { row } from './measure.js';
import { writeRegistryStorage } from './retention-storage.js';

const REPOSITORIES = Number(process.env.BENCH_RETENTION_REPOSITORIES ?? 1000);
const TAGS = Number(process.env.BENCH_RETENTION_TAGS ?? 100);
const SERVICE = 'bench-registry';
const ISSUER = 'bench-issuer';
const TOKEN_SECONDS = 300;

/** Signs registry tokens as the activity server does (wire/access-token.ts), for any scopes asked. */
async function signingTokenSource(keysDir: string): Promise<{ tokens: TokenSource; bundle: string }> {
  const keys = await initKeysDir(keysDir, { algorithm: 'ES256', now: new Date(Date.now() - 60_000) });
  const signer = new AccessTokenSigner(parseSigningKeySet(await readFile(keys.files.signing, 'utf8')));
  const tokens: TokenSource = {
    async token(scopes): Promise<IssuedToken> {
      const access: AccessEntry[] = scopes.map((scope) => {
        const parts = scope.split(':');
        return { type: parts[0] as string, name: parts.slice(1, -1).join(':'), actions: (parts.at(-1) as string).split(',') };
      });
      const now = new Date();
      const key = signer.keyFor('bench/main', 'ES256', now);
      if (key === undefined) throw new Error('no signing key valid now');
      const iat = Math.floor(now.getTime() / 1000);
      const claims = { iss: ISSUER, sub: 'bench', aud: SERVICE, iat, nbf: iat - 5, exp: iat + TOKEN_SECONDS, jti: newTokenId(), access };
      return { token: signer.sign(key, claims), expiresAt: new Date((iat + TOKEN_SECONDS) * 1000), access, withheld: [] };
    },
  };
  return { tokens, bundle: keys.files.bundle };
}

const emptyTrail: TrailSource = {
  pushes: () => Promise.resolve({ pushes: [], truncated: new Set<string>() }),
  repositoriesSeen: () => Promise.resolve([]),
};

/** The bare loop: the catalog, then per repository its tags and a HEAD per tag, `concurrency` in flight, nothing else. */
async function bareLoop(server: string, tokens: TokenSource, concurrency: number): Promise<{ seconds: number; requests: number; tags: number }> {
  const agent = new http.Agent({ keepAlive: true });
  let requests = 0;
  const send = (method: string, path: string, token: string): Promise<{ status: number; link: string; body: string }> =>
    new Promise((resolve, reject) => {
      requests++;
      const req = http.request(
        `${server}${path}`,
        { method, agent, headers: { authorization: `Bearer ${token}`, accept: MANIFEST_TYPES.join(', ') } },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, link: String(res.headers.link ?? ''), body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  const pages = async (first: string, token: string, field: string): Promise<string[]> => {
    const all: string[] = [];
    for (let next: string | undefined = first; next !== undefined;) {
      const answer = await send('GET', next, token);
      if (answer.status !== 200) throw new Error(`GET ${next}: ${answer.status} ${answer.body}`);
      all.push(...((JSON.parse(answer.body) as Record<string, string[]>)[field] ?? []));
      next = /<([^>]+)>;\s*rel="?next"?/.exec(answer.link)?.[1];
    }
    return all;
  };
  const started = performance.now();
  const catalogToken = (await tokens.token(['registry:catalog:*'])).token;
  const repositories = (await pages('/v2/_catalog?n=1000', catalogToken, 'repositories')).sort();
  const chunkTokens = await Promise.all(
    Array.from({ length: Math.ceil(repositories.length / REPOSITORIES_PER_TOKEN) }, (_, i) =>
      tokens.token(repositories.slice(i * REPOSITORIES_PER_TOKEN, (i + 1) * REPOSITORIES_PER_TOKEN).map((r) => `repository:${r}:pull`)),
    ),
  );
  const limiter = new Limiter(concurrency);
  let tags = 0;
  await mapLimit(repositories, concurrency, async (repository, i) => {
    const token = (chunkTokens[Math.floor(i / REPOSITORIES_PER_TOKEN)] as IssuedToken).token;
    const names = await limiter.run(() => pages(`/v2/${repository}/tags/list?n=1000`, token, 'tags'));
    tags += names.length;
    await Promise.all(
      names.map((tag) =>
        limiter.run(async () => {
          const answer = await send('HEAD', `/v2/${repository}/manifests/${tag}`, token);
          if (answer.status !== 200) throw new Error(`HEAD ${repository}:${tag}: ${answer.status}`);
        }),
      ),
    );
  });
  agent.destroy();
  return { seconds: (performance.now() - started) / 1000, requests, tags };
}

function benchPolicy(maxDeletionsPerRun?: number): RetentionPolicyResource {
  return {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'RetentionPolicy',
    metadata: { name: 'bench', namespace: 'bench' },
    spec: {
      registryRef: { name: 'main' },
      repositories: ['bench/**'],
      rules: { keepNewestSemver: { count: 10 }, keepTags: ['latest'] },
      ...(maxDeletionsPerRun === undefined ? {} : { maxDeletionsPerRun }),
    },
  };
}

export async function runRetentionBench(print: (line: string) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-bench-retention-'));
  try {
    print(`\n## Retention dry run: ${REPOSITORIES} repositories x ${TAGS} tags on Distribution v3 (filesystem), concurrency ${DEFAULT_CONCURRENCY}`);
    let started = performance.now();
    const storage = writeRegistryStorage(join(dir, 'storage'), REPOSITORIES, TAGS);
    print(
      `storage written in ${((performance.now() - started) / 1000).toFixed(1)} s: ${storage.repositories.length} repositories, ${storage.manifests} manifests`,
    );
    const { tokens, bundle } = await signingTokenSource(join(dir, 'keys'));
    const registry = await startRegistry({
      flavor: 'v3',
      storageDir: join(dir, 'storage'),
      auth: { realm: 'http://127.0.0.1:9/token', service: SERVICE, issuer: ISSUER, rootCertBundle: bundle },
    });
    try {
      const header = row(['run', 'seconds', 'API calls', 'calls/s', 'tags', 'result']);
      print(header);
      print(row(['---', '---', '---', '---', '---', '---']));
      const bare = async (label: string): Promise<number> => {
        const b = await bareLoop(registry.url, tokens, DEFAULT_CONCURRENCY);
        print(row([label, b.seconds.toFixed(1), String(b.requests), (b.requests / b.seconds).toFixed(0), String(b.tags), '-']));
        return b.seconds;
      };
      const runner = async (label: string, policy: RetentionPolicyResource): Promise<number> => {
        started = performance.now();
        const run = await runRetention({ policy, registry: 'bench/main', endpoint: { server: registry.url }, tokens, trail: emptyTrail, dryRun: true });
        const seconds = (performance.now() - started) / 1000;
        const s = run.summary;
        if (s.errors.length > 0) throw new Error(`${label}: ${s.errors.slice(0, 3).join('; ')}`);
        const result = `${s.result}, ${s.candidates} candidates${s.bytesFreed === undefined ? '' : `, ${s.bytesFreed} bytes`}`;
        print(row([label, seconds.toFixed(1), String(run.requests), (run.requests / seconds).toFixed(0), String(s.tagsSeen), result]));
        return seconds;
      };
      const baseline = await bare('bare loop (catalog, tags, HEAD)');
      const capped = await runner('retention dry run (cap 100)', benchPolicy());
      print(`ratio retention dry run / bare loop (the same calls): ${(capped / baseline).toFixed(2)}`);
      if (process.env.BENCH_RETENTION_BYTES === '1') {
        const planned = await runner('retention dry run (no cap: + bytes)', benchPolicy(1_000_000));
        print(`ratio with the bytes estimate (a GET per manifest of a repository with candidates): ${(planned / baseline).toFixed(2)}`);
      }
    } catch (error) {
      print(`retention bench failed: ${(error as Error).message}\n--- registry ---\n${registry.logs().slice(-3000)}`);
      throw error;
    } finally {
      await registry.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

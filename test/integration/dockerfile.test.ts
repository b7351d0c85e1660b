// The Dockerfile, replayed without a Docker engine (the fast check; test/integration/image.test.ts builds
// and runs the image with a real engine): its instructions are parsed (so drift in the RUN
// steps fails here), the build context is assembled the way `docker build` would (working tree minus
// .dockerignore), the RUN steps run in a temporary copy, and the runtime stage's files are copied
// alone into a fresh directory where the CLI must start, as uid 65532 when we can switch to it.
//
// Two deliberate differences: `npm ci` needs the registry (the local npm cache does not hold every
// tarball), so that step is replaced by copying the repository's installed node_modules, which
// `npm ci` produced from the same lockfile (better-sqlite3 already compiled for this Node); and the
// build stage's apt-get of the compilers is not replayed (it would install into this machine, which has
// them). `npm run build` and `npm prune --omit=dev` run as written. The copy then runs the activity server
// on SQLite, so the native module's build output is shown to survive the prune and the runtime COPY lines.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, run, startProcess, waitFor } from '../../local/process.js';
import { repoRoot } from '../../local/tools.js';

interface Instruction {
  keyword: string;
  args: string;
}

/** Dockerfile instructions with comments dropped and `\` continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\S+)\s*(.*)$/.exec(full);
    if (m) out.push({ keyword: m[1]!.toUpperCase(), args: m[2]! });
  }
  return out;
}

/** Splits instructions into build stages at each FROM. */
function stages(instructions: Instruction[]): { from: string; name?: string; body: Instruction[] }[] {
  const out: { from: string; name?: string; body: Instruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`unparsed FROM ${ins.args}`);
      out.push({ from: m[1]!, ...(m[2] ? { name: m[2] } : {}), body: [] });
    } else {
      out.at(-1)?.body.push(ins);
    }
  }
  return out;
}

/** A .dockerignore pattern as a RegExp over slash-separated relative paths (moby patternmatcher rules). */
function patternRegex(pattern: string): RegExp {
  let p = pattern.replace(/^\/+/, '').replace(/\/+$/, '');
  let re = '';
  while (p.length > 0) {
    if (p.startsWith('**/')) {
      re += '(?:.*/)?';
      p = p.slice(3);
    } else if (p.startsWith('**')) {
      re += '.*';
      p = p.slice(2);
    } else if (p[0] === '*') {
      re += '[^/]*';
      p = p.slice(1);
    } else if (p[0] === '?') {
      re += '[^/]';
      p = p.slice(1);
    } else {
      re += p[0]!.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      p = p.slice(1);
    }
  }
  return new RegExp(`^${re}$`);
}

/** Whether `.dockerignore` keeps `path` out of the context: the last matching pattern wins, and a pattern matching a parent directory matches its contents. */
function dockerIgnored(patterns: string[], path: string): boolean {
  const candidates: string[] = [];
  const parts = path.split('/');
  for (let i = 1; i <= parts.length; i++) candidates.push(parts.slice(0, i).join('/'));
  let ignored = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const re = patternRegex(negated ? raw.slice(1).trim() : raw);
    if (candidates.some((c) => re.test(c))) ignored = !negated;
  }
  return ignored;
}

function readDockerignore(): string[] {
  return readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

describe('.dockerignore matching', () => {
  const table: [sentence: string, patterns: string[], path: string, ignored: boolean][] = [
    ['a top-level directory name excludes everything under it', ['node_modules'], 'node_modules/yaml/package.json', true],
    ['a top-level name does not match the same name deeper down', ['dist'], 'policy/dist/x.ts', false],
    ['**/ matches at any depth', ['**/*.pem'], 'test/fixtures/ca.pem', true],
    ['**/ matches at the top too', ['**/*.pem'], 'ca.pem', true],
    ['* does not cross a slash', ['*.log'], 'logs/a.log', false],
    ['a later ! re-includes', ['*.md', '!README.md'], 'README.md', false],
    ['unrelated files stay in', ['node_modules', 'dist'], 'policy/scope.ts', false],
  ];
  it.each(table)('%s', (_sentence, patterns, path, ignored) => {
    expect(dockerIgnored(patterns, path)).toBe(ignored);
  });
});

/** The build stage's one apt-get: what node-gyp needs to compile better-sqlite3, and no apt lists left behind. */
const COMPILERS = 'apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*';

describe('Dockerfile', () => {
  const instructions = parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
  const [build, runtime, ...extra] = stages(instructions);

  it('has a build stage and a runtime stage, both on the current Node LTS', () => {
    expect(extra).toEqual([]);
    expect(build?.from).toBe('node:24-bookworm-slim');
    expect(build?.name).toBe('build');
    expect(runtime?.from).toMatch(/^(node:24-bookworm-slim|gcr\.io\/distroless\/nodejs24-debian12(:nonroot)?)$/);
  });

  it('runs exactly the compiler install, npm ci, npm run build, npm prune --omit=dev in the build stage, and nothing in the runtime stage', () => {
    const runs = build!.body.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs).toEqual([COMPILERS, 'npm ci', 'npm run build', 'npm prune --omit=dev']);
    expect(runtime!.body.filter((i) => i.keyword === 'RUN')).toEqual([]);
  });

  it("gives node-gyp the base image's Node headers (no download) before npm ci compiles better-sqlite3", () => {
    const body = build!.body.map((i) => `${i.keyword} ${i.args}`);
    expect(body.indexOf('ENV npm_config_nodedir=/usr/local')).toBeGreaterThan(-1);
    expect(body.indexOf('ENV npm_config_nodedir=/usr/local')).toBeLessThan(body.indexOf('RUN npm ci'));
    expect(body.indexOf(`RUN ${COMPILERS}`)).toBeLessThan(body.indexOf('RUN npm ci'));
    expect(runtime!.body.filter((i) => i.keyword === 'ENV').map((i) => i.args)).toEqual(['NODE_ENV=production', 'MALLOC_ARENA_MAX=2']);
  });

  it('copies only package.json, production node_modules, dist and crds into the runtime stage', () => {
    const copies = runtime!.body.filter((i) => i.keyword === 'COPY');
    const sources = copies.map((c) => {
      expect(c.args).toMatch(/--from=build\b/);
      const words = c.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      return words[0]!.replace(/^\/src\//, '');
    });
    expect(sources.sort()).toEqual(['crds', 'dist', 'node_modules', 'package.json']);
  });

  it('runs as uid 65532 with node on dist/bin/portcullis.js as the entrypoint', () => {
    const user = runtime!.body.filter((i) => i.keyword === 'USER').at(-1);
    expect(user?.args.split(':')[0]).toBe('65532');
    const entrypoint = runtime!.body.filter((i) => i.keyword === 'ENTRYPOINT').at(-1);
    expect(JSON.parse(entrypoint!.args)).toEqual(['node', '/app/dist/bin/portcullis.js']);
    const workdir = runtime!.body.filter((i) => i.keyword === 'WORKDIR').at(-1);
    expect(workdir?.args).toBe('/app');
  });

  it('keeps secrets, build output and local tools out of the build context', () => {
    const patterns = readDockerignore();
    for (const path of ['node_modules/yaml/package.json', 'dist/bin/portcullis.js', '.git/HEAD', '.tools/helm-v3/helm', 'keys/dev.pem']) {
      expect(dockerIgnored(patterns, path), path).toBe(true);
    }
    for (const path of ['package.json', 'package-lock.json', 'tsconfig.build.json', 'policy/scope.ts', 'crds/registries.yaml', 'bin/portcullis.ts']) {
      expect(dockerIgnored(patterns, path), path).toBe(false);
    }
  });
});

describe('Dockerfile replayed on a copy of the build context', () => {
  let work = '';
  let app = '';
  const asNonRoot = process.getuid?.() === 0 ? { uid: 65532, gid: 65532 } : {};

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'portcullis-docker-'));
    const src = join(work, 'src');
    app = join(work, 'app');
    const patterns = readDockerignore();
    const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, maxBuffer: 64 << 20 })
      .toString('utf8')
      .split('\0')
      .filter((p) => p !== '' && !dockerIgnored(patterns, p));
    for (const rel of listed) {
      const from = join(repoRoot, rel);
      if (!existsSync(from) || !statSync(from).isFile()) continue; // deleted in the working tree
      mkdirSync(dirname(join(src, rel)), { recursive: true });
      cpSync(from, join(src, rel));
    }

    // RUN npm ci -> the repository's node_modules, installed from the same lockfile (see the header).
    cpSync(join(repoRoot, 'node_modules'), join(src, 'node_modules'), { recursive: true, verbatimSymlinks: true });
    const env = { ...process.env, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
    for (const step of ['npm run build', 'npm prune --omit=dev']) {
      const r = await run('sh', ['-c', step], { cwd: src, env, timeoutMs: 150_000 });
      if (r.code !== 0) throw new Error(`RUN ${step} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    }

    // The runtime stage: only what its COPY lines name.
    mkdirSync(app);
    for (const item of ['package.json', 'node_modules', 'dist', 'crds']) {
      cpSync(join(src, item), join(app, item), { recursive: true, verbatimSymlinks: true });
    }
    rmSync(src, { recursive: true, force: true });
    // mkdtemp makes 0700 directories; the image's /app is world-readable and so must this copy be.
    chmodSync(work, 0o755);
  }, 240_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const cli = (args: string[]) =>
    run('node', [join(app, 'dist', 'bin', 'portcullis.js'), ...args], { cwd: '/', env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent' }, ...asNonRoot });

  it('holds every production package of the lockfile and no development-only one', () => {
    // The lockfile marks packages reachable only from devDependencies with "dev": true (some
    // devDependencies, such as @types/node, are also needed by production packages and stay).
    const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean }> };
    const installed = Object.entries(lock.packages).filter(([path]) => path.startsWith('node_modules/'));
    const devOnly = installed.filter(([, meta]) => meta.dev === true).map(([path]) => path);
    const production = installed.filter(([, meta]) => meta.dev !== true && meta.optional !== true).map(([path]) => path);
    expect(devOnly).toContain('node_modules/typescript');
    expect(devOnly).toContain('node_modules/vitest');
    for (const path of devOnly) expect(existsSync(join(app, path)), path).toBe(false);
    for (const path of production) expect(existsSync(join(app, path, 'package.json')), path).toBe(true);
  });

  it('starts the CLI: --help lists the operator, token-server and activity commands', async () => {
    const r = await cli(['--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\boperator\b/);
    expect(r.stdout).toMatch(/\btoken-server\b/);
    expect(r.stdout).toMatch(/\bactivity\b/);
  });

  it('runs the activity server on SQLite from the copy: the native module survived the prune and the COPY lines', async () => {
    const data = join(work, 'data');
    mkdirSync(data, { mode: 0o700 });
    if (asNonRoot.uid !== undefined) chownSync(data, asNonRoot.uid, asNonRoot.gid);
    const keyFile = join(work, 'activity-key');
    writeFileSync(keyFile, randomBytes(32).toString('base64'), { mode: 0o644 });
    const port = await freePort();
    const activity = startProcess(
      'activity',
      'node',
      [
        join(app, 'dist', 'bin', 'portcullis.js'),
        'activity',
        '--database',
        `sqlite:${join(data, 'activity.db')}`,
        '--activity-key-file',
        keyFile,
        '--events-listen',
        `127.0.0.1:${port}`,
        '--no-webhooks',
      ],
      { cwd: '/', env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent' }, ...asNonRoot },
    );
    try {
      // The listener opens only after the store did: a 200 means better-sqlite3 loaded and created the database.
      await waitFor(
        'activity /healthz',
        async () =>
          (await fetch(`http://127.0.0.1:${port}/healthz`)
            .then((r) => r.status)
            .catch(() => 0)) === 200,
        30_000,
        () => activity.output(),
      );
      expect(existsSync(join(data, 'activity.db'))).toBe(true);
    } finally {
      await activity.stop();
    }
    expect(await activity.exited, activity.output()).toBe(0);
  });

  it.each([
    // Every flag charts/portcullis passes.
    [
      'operator',
      [
        '--leader-elect',
        '--lease-namespace',
        '--registry-namespaces',
        '--metrics-listen',
        '--log-level',
        '--namespace',
        '--retention-image',
        '--retention-cluster-role',
        '--retention-namespaces',
        '--activity-url',
        '--activity-key-file',
      ],
    ],
    ['token-server', ['--registry', '--listen', '--log-level', '--trust-proxy', '--workers']],
    [
      'activity',
      [
        '--database',
        '--activity-key-file',
        '--events-listen',
        '--listen',
        '--tls-cert',
        '--tls-key',
        '--retain',
        '--retain-rows',
        '--webhook-lease',
        '--no-webhooks',
        '--log-level',
      ],
    ],
  ])('`%s --help` runs and documents the flags the chart passes', async (command, flags) => {
    const r = await cli([command, '--help']);
    expect(r.code, r.stderr).toBe(0);
    for (const flag of flags) expect(r.stdout).toContain(flag);
  });
});

// The benchmark's baseline: a bare node:http server that signs one ES256 JWT per request with
// node:crypto and answers a token-shaped JSON body. No auth, no policy, no framework: the floor a
// token server on this machine cannot beat. Run as a child process: `node baseline.js PORT [WORKERS]`;
// with WORKERS > 1, that many such processes share the socket through node:cluster, as `--workers` does.
import cluster from 'node:cluster';
import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { createServer } from 'node:http';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: createHash('sha256').update('baseline').digest('hex').slice(0, 16) })).toString(
  'base64url',
);

const server = createServer((req, res) => {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: 'baseline',
    sub: 'solo',
    aud: 'bench.registry',
    exp: now + 300,
    nbf: now,
    iat: now,
    jti: randomUUID(),
    access: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }],
  };
  const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  const token = `${input}.${signature}`;
  const body = JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date(now * 1000).toISOString() });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
  void req;
});

const port = Number(process.argv[2] ?? 0);
const workers = Number(process.argv[3] ?? 1);
if (workers > 1 && cluster.isPrimary) {
  let listening = 0;
  cluster.on('listening', (_worker, address) => {
    if (++listening === workers) process.stdout.write(`baseline listening on 127.0.0.1:${address.port}\n`);
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  process.once('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    cluster.on('exit', () => Object.keys(cluster.workers ?? {}).length === 0 && process.exit(0));
  });
} else {
  server.listen(port, '127.0.0.1', () => {
    const address = server.address();
    if (!cluster.isWorker) process.stdout.write(`baseline listening on 127.0.0.1:${typeof address === 'object' && address ? address.port : port}\n`);
  });
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
}

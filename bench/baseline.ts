// The benchmark's baseline: a bare node:http server that signs one ES256 JWT per request with
// node:crypto and answers a token-shaped JSON body. No auth, no policy, no framework: the floor a
// token server on this machine cannot beat. Run as a child process: `node baseline.js PORT`.
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
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`baseline listening on 127.0.0.1:${typeof address === 'object' && address ? address.port : port}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));

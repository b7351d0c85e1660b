// The attack on a request-header CA change, on real TLS: a client holding a certificate of the CA being
// rotated out keeps a handshake half done across the change (a relay passes its ClientHello and holds the
// rest), then finishes it. Node checks the certificate against the context the connection was accepted
// under, the old CA, so the connection must not count as the front proxy's afterwards.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, request, type Server } from 'node:https';
import { connect, createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { buildCertificate, derToPem } from '../../pki/certificates.js';
import { ConnectionTrust } from './connection-trust.js';

interface Issued {
  cert: string;
  key: string;
  der: Uint8Array;
  privateKey: KeyObject;
}

async function issue(commonName: string, issuer?: Issued): Promise<Issued> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Date.now();
  const der = await buildCertificate({
    subjectCommonName: commonName,
    subjectPublicKey: publicKey,
    ...(issuer ? { issuerCertificate: issuer.der } : {}),
    issuerPrivateKey: issuer?.privateKey ?? privateKey,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
    isCA: issuer === undefined,
  });
  return { cert: derToPem(der), key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, der, privateKey };
}

const listening = async <S extends Server | TcpServer>(server: S): Promise<number> => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
};

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

describe('ConnectionTrust on a TLS server whose client CA changes', () => {
  it('a handshake held open across the change is cut, never answered as the front proxy', async () => {
    const [oldCA, newCA] = await Promise.all([issue('old request-header CA'), issue('new request-header CA')]);
    const [serving, proxyClient] = await Promise.all([issue('activity-api', oldCA), issue('front-proxy-client', oldCA)]);
    const tls = { cert: serving.cert, key: serving.key };

    const trust = new ConnectionTrust();
    const server = createServer({ ...tls, ca: oldCA.cert, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const socket = req.socket as TLSSocket;
      res.end(socket.authorized && trust.current(socket) ? 'front proxy' : 'not trusted');
    });
    trust.attach(server);
    trust.caChanged(); // the old CA loaded, as applyCA does
    const serverPort = await listening(server);
    closers.push(
      () => server.closeAllConnections(),
      () => server.close(),
    );

    // The relay: the ClientHello passes at once, the client's later records wait for `release`.
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    const relay = createTcpServer((client) => {
      const upstream = connect(serverPort, '127.0.0.1');
      let first = true;
      client.on('data', (data) => {
        if (first) upstream.write(data);
        else void released.then(() => upstream.write(data));
        first = false;
      });
      upstream.on('data', (data) => client.write(data));
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
    });
    const relayPort = await listening(relay);
    closers.push(() => relay.close());

    const outcome = new Promise<string>((resolve) => {
      const req = request(
        { host: '127.0.0.1', port: relayPort, path: '/', agent: false, rejectUnauthorized: false, cert: proxyClient.cert, key: proxyClient.key },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve(body));
        },
      );
      req.on('error', () => resolve('connection closed'));
      req.end();
    });
    // The ClientHello is through (the server answered it) before the change.
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.setSecureContext({ ...tls, ca: newCA.cert });
    trust.caChanged();
    release();

    // Before the fix: 'front proxy' (stamped under the new CA when its handshake ended).
    expect(await outcome).toBe('connection closed');
  });
});

// A real OpenLDAP slapd (Debian's package) for the LDAP identity source, used by the tests and by
// `npm run bench`: on loopback, ldap:// and ldaps:// with a certificate from a throwaway CA, an mdb database
// in a temp dir loaded from an LDIF fixture, run as the unprivileged `openldap` user when run as root.
// Changes go through the real ldapmodify as the directory's admin, as an operator of the directory makes them.
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, run, startProcess, waitFor, type ManagedProcess } from './process.js';
import { createCA, issueCert } from './pki.js';

export const LDAP_SUFFIX = 'dc=example,dc=com';
export const LDAP_ADMIN_DN = `cn=admin,${LDAP_SUFFIX}`;
/** The service account Portcullis searches as. */
export const LDAP_SERVICE_DN = `cn=portcullis,ou=services,${LDAP_SUFFIX}`;
export const LDAP_SERVICE_PASSWORD = 'Zx81-Qv7m-Tk30-bnD';
export const LDAP_PASSWORDS = {
  dana: 'dana-directory-password',
  erik: 'erik-directory-password',
  fay: 'fay-directory-password',
  josé: 'jose-directory-password',
} as const;

export interface RunningSlapd {
  /** ldaps://localhost:PORT */
  ldapsUrl: string;
  /** ldap://localhost:PORT (for StartTLS) */
  ldapUrl: string;
  /** PEM of the CA that issued slapd's certificate. */
  caPem: string;
  /** Applies an LDIF change as the directory admin (ldapmodify). */
  modify(ldif: string): Promise<void>;
  /** Stops slapd, keeping its data (a directory outage). */
  stop(): Promise<void>;
  /** Starts it again on the same ports with the same data. */
  start(): Promise<void>;
  /** Stops it for good and removes its files. */
  close(): Promise<void>;
  output(): string;
}

const ADMIN_PASSWORD = 'directory-admin-password';

/**
 * People: dana (in dev), erik (in frontend, which is a member of dev: nested), fay (in ops), josé (in
 * équipe: a name and a DN beyond ASCII). Groups are groupOfNames with `member` DNs, the shape most
 * directories use.
 */
export function fixtureLdif(): string {
  // LDIF carries a value beyond ASCII base64-encoded, after `::`.
  const line = (attribute: string, value: string) =>
    /^[ -~]*$/.test(value) ? `${attribute}: ${value}\n` : `${attribute}:: ${Buffer.from(value).toString('base64')}\n`;
  const user = (uid: string) => `uid=${uid},ou=people,${LDAP_SUFFIX}`;
  const person = (uid: string, password: string) =>
    `${line('dn', user(uid))}objectClass: inetOrgPerson\n${line('uid', uid)}${line('cn', uid)}${line('sn', uid)}userPassword: ${password}\n`;
  const group = (cn: string, members: string[]) =>
    `${line('dn', `cn=${cn},ou=groups,${LDAP_SUFFIX}`)}objectClass: groupOfNames\n${line('cn', cn)}${members.map((m) => line('member', m)).join('')}`;
  return [
    `dn: ${LDAP_SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n`,
    `dn: ou=people,${LDAP_SUFFIX}\nobjectClass: organizationalUnit\nou: people\n`,
    `dn: ou=groups,${LDAP_SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n`,
    `dn: ou=services,${LDAP_SUFFIX}\nobjectClass: organizationalUnit\nou: services\n`,
    `dn: ${LDAP_SERVICE_DN}\nobjectClass: person\ncn: portcullis\nsn: portcullis\nuserPassword: ${LDAP_SERVICE_PASSWORD}\n`,
    person('dana', LDAP_PASSWORDS.dana),
    person('erik', LDAP_PASSWORDS.erik),
    person('fay', LDAP_PASSWORDS.fay),
    person('josé', LDAP_PASSWORDS['josé']),
    group('frontend', [user('erik')]),
    group('dev', [user('dana'), `cn=frontend,ou=groups,${LDAP_SUFFIX}`]),
    group('ops', [user('fay')]),
    group('équipe', [user('josé')]),
  ].join('\n');
}

function config(dir: string, cert: { certPath: string; keyPath: string; caPath: string }): string {
  return `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile ${join(dir, 'slapd.pid')}
TLSCACertificateFile ${cert.caPath}
TLSCertificateFile ${cert.certPath}
TLSCertificateKeyFile ${cert.keyPath}
database mdb
maxsize 67108864
suffix "${LDAP_SUFFIX}"
rootdn "${LDAP_ADMIN_DN}"
rootpw ${ADMIN_PASSWORD}
directory ${join(dir, 'db')}
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
`;
}

export async function startSlapd(): Promise<RunningSlapd> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-slapd-'));
  const ca = await createCA(dir, 'ldap');
  const cert = await issueCert(ca, dir, { name: 'slapd', commonName: 'localhost', dnsNames: ['localhost'], ips: ['127.0.0.1'], usage: 'server' });
  const confPath = join(dir, 'slapd.conf');
  await mkdir(join(dir, 'db'));
  await writeFile(confPath, config(dir, { certPath: cert.certPath, keyPath: cert.keyPath, caPath: ca.certPath }));
  await writeFile(join(dir, 'fixture.ldif'), fixtureLdif());
  const loaded = await run('/usr/sbin/slapadd', ['-f', confPath, '-l', join(dir, 'fixture.ldif')]);
  if (loaded.code !== 0) throw new Error(`slapadd failed: ${loaded.stderr}`);
  // Root drops to the package's unprivileged user, which must own the database and read the key.
  const asRoot = userInfo().uid === 0;
  const dropTo: string[] = [];
  if (asRoot) {
    const id = await run('id', ['-u', 'openldap']);
    const gid = await run('id', ['-g', 'openldap']);
    const [uid, group] = [Number(id.stdout.trim()), Number(gid.stdout.trim())];
    for (const path of [dir, join(dir, 'db'), cert.keyPath, ...(await dbFiles(dir))]) await chown(path, uid, group);
    await chmod(dir, 0o700);
    dropTo.push('-u', 'openldap', '-g', 'openldap');
  }
  let [ldapPort, ldapsPort] = [await freePort(), await freePort()];
  let proc: ManagedProcess | undefined;
  const start = async (): Promise<void> => {
    const p = startProcess('slapd', '/usr/sbin/slapd', [
      '-d',
      '0',
      '-f',
      confPath,
      '-h',
      `ldap://127.0.0.1:${ldapPort}/ ldaps://127.0.0.1:${ldapsPort}/`,
      ...dropTo,
    ]);
    proc = p;
    await waitFor(
      'slapd answering',
      async () => {
        if (p.child.exitCode !== null) throw new Error(`slapd exited with ${p.child.exitCode}`);
        const r = await run('ldapwhoami', ['-x', '-H', `ldap://127.0.0.1:${ldapPort}`, '-D', LDAP_ADMIN_DN, '-w', ADMIN_PASSWORD]);
        return r.code === 0;
      },
      20_000,
      () => p.output(),
    );
  };
  // A port found free can be taken by another process before slapd binds it (tests run side by side):
  // slapd then exits at once, and a first start tries again on other ports. Restarts keep their ports.
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (error) {
      const exitedAtOnce = proc !== undefined && proc.child.exitCode !== null;
      await proc?.stop();
      if (attempt === 3 || !exitedAtOnce) throw error;
      [ldapPort, ldapsPort] = [await freePort(), await freePort()];
    }
  }
  return {
    ldapUrl: `ldap://localhost:${ldapPort}`,
    ldapsUrl: `ldaps://localhost:${ldapsPort}`,
    caPem: await readFile(ca.certPath, 'utf8'),
    async modify(ldif) {
      const r = await run('ldapmodify', ['-x', '-H', `ldap://127.0.0.1:${ldapPort}`, '-D', LDAP_ADMIN_DN, '-w', ADMIN_PASSWORD], { input: ldif });
      if (r.code !== 0) throw new Error(`ldapmodify failed: ${r.stderr}`);
    },
    async stop() {
      await proc?.stop();
    },
    start,
    async close() {
      await proc?.stop();
      await rm(dir, { recursive: true, force: true });
    },
    output: () => proc?.output() ?? '',
  };
}

async function dbFiles(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'db'))).map((f) => join(dir, 'db', f));
}

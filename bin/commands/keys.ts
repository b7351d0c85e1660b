// `portcullis keys ...`: signing material. `keys init --dir DIR` writes a CA, its bundle for
// Distribution's `rootcertbundle`, and a signing-key set for the token server.

import type { Command } from 'commander';
import { initKeysDir } from '../../pki/init.js';

/**
 * The `keys` command group, created on first use; other modules add subcommands to it
 * (`keys rotate`) with `keysCommand(program).command('rotate')`.
 */
export function keysCommand(program: Command): Command {
  const existing = program.commands.find((c) => c.name() === 'keys');
  return existing ?? program.command('keys').description('create and rotate token-signing keys');
}

export function register(program: Command): void {
  keysCommand(program)
    .command('init')
    .description("create a CA and a signing-key set in DIR (DIR/bundle.pem is the registry's rootcertbundle)")
    .requiredOption('--dir <dir>', 'directory to write ca.crt, ca.key, bundle.pem and signing.json to')
    .option('--algorithm <alg>', 'signing algorithm: ES256 or RS256', 'ES256')
    .option('--force', 'replace an existing CA (every registry must then trust the new bundle.pem)', false)
    .option('--ca-dir <dir>', "directory for ca.key (and a copy of ca.crt), kept off the token server's host (default: --dir)")
    .action(async (opts: { dir: string; algorithm: string; force: boolean; caDir?: string }) => {
      if (opts.algorithm !== 'ES256' && opts.algorithm !== 'RS256') {
        program.error(`--algorithm must be ES256 or RS256, not ${JSON.stringify(opts.algorithm)}`);
      }
      try {
        const result = await initKeysDir(opts.dir, {
          algorithm: opts.algorithm,
          now: new Date(),
          force: opts.force,
          ...(opts.caDir === undefined ? {} : { caDir: opts.caDir }),
        });
        process.stdout.write(`wrote ${result.files.caCert}, ${result.files.caKey}, ${result.files.bundle}, ${result.files.signing}\n`);
        process.stdout.write(`signing key ${result.kid}; point the registry's rootcertbundle at ${result.files.bundle}\n`);
        if (opts.caDir === undefined) {
          process.stderr.write(
            `warning: the CA key ${result.files.caKey} is in ${opts.dir}, which the token server reads; it needs only signing.json, ` +
              'so move ca.key to a host the token server does not run on (or use --ca-dir)\n',
          );
        }
      } catch (err) {
        program.error(`keys init: ${(err as Error).message}`);
      }
    });
}

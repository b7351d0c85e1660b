// `portcullis credential-provider --registry HOST[:PORT] [--registry ...]`: the kubelet image credential provider
// (see credential-provider/exchange.ts). Reads one CredentialProviderRequest on stdin, writes one
// CredentialProviderResponse on stdout, exits 0; on a request it cannot answer, a sentence on stderr and
// exit status 1, which the kubelet logs. Wire it up with a CredentialProviderConfig (README, chart docs).

import type { Command } from 'commander';
import { parseDuration } from '../../policy/duration.js';
import { parseRequest, respond } from '../../credential-provider/exchange.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function register(program: Command): void {
  program
    .command('credential-provider')
    .description("kubelet image credential provider: hands the pod's ServiceAccount token to the registry (CredentialProviderRequest on stdin)")
    .requiredOption('--registry <host[:port]>', 'answer only for this registry host (repeatable; required: no other registry is given the token)', collect)
    .option('--username <name>', 'username sent beside the token (token servers ignore it)', 'serviceaccount')
    .option('--max-cache-duration <duration>', 'longest time the kubelet may reuse the credentials (never past the token expiry)', '10m')
    .action(async (opts: { registry: string[]; username: string; maxCacheDuration: string }) => {
      try {
        const request = parseRequest(await readStdin());
        const response = respond(request, {
          registries: opts.registry,
          username: opts.username,
          maxCacheSeconds: parseDuration(opts.maxCacheDuration),
          now: () => new Date(),
        });
        process.stdout.write(`${JSON.stringify(response)}\n`);
      } catch (error) {
        process.stderr.write(`portcullis credential-provider: ${(error as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}

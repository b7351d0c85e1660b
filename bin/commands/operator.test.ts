import { Command, CommanderError } from 'commander';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { register } from './operator.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-operator-cli-'));
  await writeFile(join(dir, 'short'), 'hunter2-short-key\n');
  await writeFile(join(dir, 'key'), `${'k'.repeat(40)}\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `portcullis operator ARGS`; the refusals come before any cluster is contacted. */
async function refusal(args: string[]): Promise<{ message: string; printed: string }> {
  let printed = '';
  const program = new Command().exitOverride().configureOutput({ writeErr: (s) => (printed += s), writeOut: () => undefined });
  register(program);
  try {
    await program.parseAsync(['node', 'portcullis', 'operator', ...args]);
  } catch (error) {
    if (error instanceof CommanderError) return { message: error.message, printed };
    throw error;
  }
  throw new Error('the operator started');
}

describe('portcullis operator --activity-url/--activity-key-file', () => {
  it.each([
    ['a URL without a key', ['--activity-url', 'http://activity:8080'], /--activity-url and --activity-key-file go together/],
    ['a key without a URL', ['--activity-key-file', 'KEY'], /--activity-url and --activity-key-file go together/],
    [
      'a key file that does not exist',
      ['--activity-url', 'http://activity:8080', '--activity-key-file', 'MISSING'],
      /cannot read activity key .*missing: ENOENT/,
    ],
    ['a short key', ['--activity-url', 'http://activity:8080', '--activity-key-file', 'SHORT'], /is too short: it needs at least 32 bytes \(it has 17\)/],
    ['a URL with credentials', ['--activity-url', 'http://u:hunter2@activity:8080', '--activity-key-file', 'KEY'], /must not carry credentials/],
  ])('refuses %s before it starts, and says why without the secret', async (_name, args, message) => {
    const paths: Record<string, string> = { KEY: join(dir, 'key'), SHORT: join(dir, 'short'), MISSING: join(dir, 'missing') };
    const { message: got, printed } = await refusal(args.map((a) => paths[a] ?? a));
    expect(got).toMatch(message);
    expect(printed).toMatch(message);
    expect(printed).not.toContain('hunter2');
  });
});

// The namespace lists the chart passes: parsed alike, each refusal naming its own flag.
describe.each(['--registry-namespaces', '--retention-namespaces', '--secret-namespaces'])('portcullis operator %s', (flag) => {
  it('is documented in --help (the chart passes it)', () => {
    const program = new Command();
    register(program);
    const operator = program.commands.find((c) => c.name() === 'operator')!;
    expect(operator.helpInformation()).toContain(`${flag} <ns,ns>`);
  });

  it.each([
    ['an empty list', ',', ' needs at least one namespace'],
    ['a list of only spaces and commas', ' , ', ' needs at least one namespace'],
    ['a name that is no namespace', 'registry,Team_A', ': "Team_A" is not a namespace name'],
  ])('refuses %s before it starts', async (_name, value, after) => {
    expect((await refusal([flag, value])).message).toContain(`${flag}${after}`);
  });
});

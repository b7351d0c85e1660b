import { Command } from 'commander';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { keysCommand, register } from './keys.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-keys-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('portcullis keys', () => {
  it('init writes the key directory and names the bundle', async () => {
    const program = new Command().exitOverride();
    register(program);
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let printed: string;
    try {
      await program.parseAsync(['node', 'portcullis', 'keys', 'init', '--dir', join(dir, 'k'), '--algorithm', 'ES256']);
      printed = out.mock.calls.map((c) => String(c[0])).join('');
    } finally {
      out.mockRestore();
    }
    expect(printed).toContain(join(dir, 'k', 'bundle.pem'));
    expect(JSON.parse(await readFile(join(dir, 'k', 'signing.json'), 'utf8')).keys[0].algorithm).toBe('ES256');
  });

  it('lets other modules add subcommands to the same group', () => {
    const program = new Command();
    register(program);
    keysCommand(program).command('rotate');
    expect(program.commands.filter((c) => c.name() === 'keys')).toHaveLength(1);
    expect(keysCommand(program).commands.map((c) => c.name())).toEqual(['init', 'rotate']);
  });
});

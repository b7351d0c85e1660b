#!/usr/bin/env node
// The `portcullis` command line. Each command lives in bin/commands/<name>.ts and exports
// `register(program)`; this file only wires them together. Only the command being run is imported:
// loading all of them costs ~40 MB of RSS (fastify, the policy compiler, the registry clients), which a
// long-running token server or operator would carry for nothing. Help, and a name that is no command,
// load them all so commander can list them.

import { Command } from 'commander';

type Registrar = (program: Command) => Promise<void>;

const COMMANDS: Record<string, Registrar> = {
  compile: async (p) => (await import('./commands/compile.js')).register(p),
  import: async (p) => (await import('./commands/import.js')).register(p),
  keys: async (p) => {
    const [keys, rotate] = await Promise.all([import('./commands/keys.js'), import('./commands/keys-rotate.js')]);
    keys.register(p);
    rotate.register(keys.keysCommand(p));
  },
  'token-server': async (p) => (await import('./commands/token-server.js')).register(p),
  operator: async (p) => (await import('./commands/operator.js')).register(p),
  demo: async (p) => (await import('./commands/demo.js')).register(p),
  'credential-provider': async (p) => (await import('./commands/credential-provider.js')).register(p),
  audit: async (p) => (await import('./commands/audit.js')).register(p),
  images: async (p) => (await import('./commands/images.js')).register(p),
  tags: async (p) => (await import('./commands/tags.js')).register(p),
  delete: async (p) => (await import('./commands/delete.js')).register(p),
  retention: async (p) => (await import('./commands/retention.js')).register(p),
  activity: async (p) => (await import('./commands/activity.js')).register(p),
  gc: async (p) => (await import('./commands/gc.js')).register(p),
};

/** The program with `only` registered, or every command (in help order) when `only` is no command. */
export async function createProgram(only?: string): Promise<Command> {
  const program = new Command('portcullis')
    .description('Kubernetes-native authentication and authorization for container registries')
    .enablePositionalOptions();
  const registrar = only === undefined ? undefined : COMMANDS[only];
  if (registrar) await registrar(program);
  else for (const register of Object.values(COMMANDS)) await register(program);
  return program;
}

await (await createProgram(process.argv[2])).parseAsync(process.argv);

#!/usr/bin/env node
// The `portcullis` command line. Each command lives in bin/commands/<name>.ts and exports
// `register(program)`; this file only wires them together.

import { Command } from 'commander';
import { register as registerActivity } from './commands/activity.js';
import { register as registerAudit } from './commands/audit.js';
import { register as registerCompile } from './commands/compile.js';
import { register as registerCredentialProvider } from './commands/credential-provider.js';
import { register as registerDelete } from './commands/delete.js';
import { register as registerDemo } from './commands/demo.js';
import { register as registerGc } from './commands/gc.js';
import { register as registerImages } from './commands/images.js';
import { register as registerImport } from './commands/import.js';
import { keysCommand, register as registerKeys } from './commands/keys.js';
import { register as registerKeysRotate } from './commands/keys-rotate.js';
import { register as registerOperator } from './commands/operator.js';
import { register as registerRetention } from './commands/retention.js';
import { register as registerTags } from './commands/tags.js';
import { register as registerTokenServer } from './commands/token-server.js';

export function createProgram(): Command {
  const program = new Command('portcullis')
    .description('Kubernetes-native authentication and authorization for container registries')
    .enablePositionalOptions();
  registerCompile(program);
  registerImport(program);
  registerKeys(program);
  registerKeysRotate(keysCommand(program));
  registerTokenServer(program);
  registerOperator(program);
  registerDemo(program);
  registerCredentialProvider(program);
  registerAudit(program);
  registerImages(program);
  registerTags(program);
  registerDelete(program);
  registerRetention(program);
  registerActivity(program);
  registerGc(program);
  return program;
}

await createProgram().parseAsync(process.argv);

// `portcullis demo`: the local, all-on-loopback Portcullis of local/demo.ts, stopped by Ctrl-C.
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('demo')
    .description('run a control plane, the operator, a token server and a registry on loopback, with the examples applied')
    .option('--flavor <flavor>', 'Distribution registry: v3 (built from its Go module) or 2.8 (Debian docker-registry)', 'v3')
    .action(async (flags: { flavor: string }) => {
      if (flags.flavor !== 'v3' && flags.flavor !== '2.8') program.error('--flavor must be v3 or 2.8');
      const say = (line: string): void => void process.stdout.write(`${line}\n`);
      // Loaded when run: the demo's launchers pull in the Kubernetes client.
      const [{ startDemo }, { demoInstructions }, { toolPath }] = await Promise.all([
        import('../../local/demo.js'),
        import('../../local/demo-instructions.js'),
        import('../../local/tools.js'),
      ]);
      let demo;
      try {
        demo = await startDemo({ flavor: flags.flavor, say });
      } catch (err) {
        program.error(`demo: ${(err as Error).message}`);
      }
      let crane = 'crane';
      try {
        crane = toolPath('crane');
      } catch {
        // crane is optional for the demo itself; the printed commands then assume it is on PATH
      }
      say(demoInstructions(demo, crane));
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          say(`${signal}: stopping the demo...`);
          resolve();
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      await demo.stop();
      say('demo stopped');
    });
}

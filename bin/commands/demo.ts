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
      // Handlers from the first moment, kept to the end: a signal during the start stops what has started
      // (the default action would leave etcd and the others running, orphaned, with its temporary
      // files), and a second one while stopping is not allowed to cut the stop short.
      const stopping = new AbortController();
      const onSignal = (signal: NodeJS.Signals): void => {
        if (stopping.signal.aborted) return say(`${signal}: already stopping the demo...`);
        say(`${signal}: stopping the demo...`);
        stopping.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const [{ startDemo, DemoStopped }, { demoInstructions }, { toolPath }] = await Promise.all([
        import('../../local/demo.js'),
        import('../../local/demo-instructions.js'),
        import('../../local/tools.js'),
      ]);
      let demo;
      try {
        demo = await startDemo({ flavor: flags.flavor, say, signal: stopping.signal });
      } catch (err) {
        if (err instanceof DemoStopped) return say('demo stopped');
        program.error(`demo: ${(err as Error).message}`);
      }
      let crane = 'crane';
      try {
        crane = toolPath('crane');
      } catch {
        // crane is optional for the demo itself; the printed commands then assume it is on PATH
      }
      say(demoInstructions(demo, crane));
      if (!stopping.signal.aborted) await new Promise((resolve) => stopping.signal.addEventListener('abort', resolve, { once: true }));
      await demo.stop();
      say('demo stopped');
    });
}

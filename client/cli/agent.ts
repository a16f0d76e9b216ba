import type { Command } from 'commander';
import type { AgentHandle } from '../hypervisor-client.js';
import { parseJson, withClient, withPool } from './common.js';
import { emit } from './output.js';

/** `hv agent …` (an identity's kill switch) and `hv ledger show`. */
export function registerAgentCommands(program: Command): void {
  const agent = program.command('agent').description("an agent identity's kill switch");
  const withAgent = <T>(did: string, fn: (a: AgentHandle) => Promise<T>) => withClient((hv) => fn(hv.agent(did)));
  agent
    .command('status <did>')
    .description('blocked or not, the deny rate over the window, the configuration')
    .action((did: string) => withAgent(did, async (a) => emit(await a.status())));
  agent
    .command('trip <did>')
    .description('operator trip: block the identity everywhere (kills it in every session it is in)')
    .requiredOption('--reason <text>')
    .requiredOption('--authorized-by <did>')
    .action((did: string, o: { reason: string; authorizedBy: string }) =>
      withAgent(did, async (a) => emit(await a.trip({ reason: o.reason, authorizedBy: o.authorizedBy }))),
    );
  agent
    .command('unblock <did>')
    .description('lift a block (the deny-rate window starts empty)')
    .requiredOption('--reason <text>')
    .requiredOption('--authorized-by <did>')
    .action((did: string, o: { reason: string; authorizedBy: string }) =>
      withAgent(did, async (a) => emit(await a.unblock({ reason: o.reason, authorizedBy: o.authorizedBy }))),
    );
  agent
    .command('configure <did>')
    .description(
      'kill-switch configuration, e.g. {"enabled":true,"window_seconds":300,"deny_rate_threshold":0.9,"min_calls":10}',
    )
    .argument('<config>', 'JSON', parseJson('config'))
    .action((did: string, config: Record<string, unknown>) =>
      withAgent(did, async (a) => emit(await a.configure(config))),
    );

  program
    .command('ledger')
    .description('the liability ledger')
    .command('show <did>')
    .description("an agent's standing (σ after slashes, risk, admit/probation/deny) and its ledger entries")
    .action((did: string) =>
      withPool(async (pool) => {
        const { readLedger, readStanding } = await import('../../store/liability.js');
        emit({ standing: await readStanding(pool, did), entries: await readLedger(pool, did) });
      }),
    );
}

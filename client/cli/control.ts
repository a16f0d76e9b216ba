import { Option, type Command } from 'commander';
import { KILL_REASONS, QUARANTINE_ON_TIMEOUT, QUARANTINE_REASONS } from '../../domain/enum-values.js';
import type { KillReason, QuarantineInput } from '../../domain/session-types.js';
import { EXIT_DENIED, parseNumber, withSession } from './common.js';
import { formatDecision } from './format.js';
import { emit } from './output.js';

/** Governance commands on one session: authorize, elevate, revoke, kill, vouch, quarantine. */
export function registerControlCommands(program: Command): void {
  registerAuthorizeCommand(program);
  registerElevationCommands(program);
  registerKillCommand(program);
  registerLiabilityCommands(program);
}

function registerAuthorizeCommand(program: Command): void {
  program
    .command('authorize <sessionId>')
    .description('ask whether an agent may perform an action (exit 4 when denied)')
    .requiredOption('--agent <did>')
    .requiredOption('--action <actionId>')
    .option('--cost <n>', 'tokens this call costs', parseNumber('--cost'), 1)
    .action((id: string, o: { agent: string; action: string; cost: number }) =>
      withSession(id, async (s) => {
        const decision = await s.authorize({ agentDid: o.agent, actionId: o.action, cost: o.cost });
        emit(decision, (d) => formatDecision(d, { agentDid: o.agent, actionId: o.action }));
        if (!decision.allowed) process.exitCode = EXIT_DENIED;
      }),
    );
}

function registerElevationCommands(program: Command): void {
  program
    .command('elevate <sessionId>')
    .description('sudo: raise an agent to a more privileged ring for a TTL')
    .requiredOption('--agent <did>')
    .addOption(new Option('--ring <ring>', 'target ring').choices(['0', '1', '2']).makeOptionMandatory())
    .requiredOption('--reason <text>')
    .option('--ttl <seconds>', 'time to live (default 300, max 3600)', parseNumber('--ttl'))
    .option('--approved-by <did>', 'approver (required for rings 0 and 1; not the requester)')
    .option('--witness <did>', 'SRE witness DID (required for ring 0)')
    .option('--statement <text>', 'SRE witness statement', 'witnessed')
    .option('--async', 'send as a signal (durable without a running worker; no answer)')
    .action(
      (
        id: string,
        o: {
          agent: string;
          ring: string;
          reason: string;
          ttl?: number;
          approvedBy?: string;
          witness?: string;
          statement: string;
          async?: boolean;
        },
      ) =>
        withSession(id, async (s) => {
          const request = {
            agentDid: o.agent,
            targetRing: Number(o.ring) as 0 | 1 | 2,
            reason: o.reason,
            ttlSeconds: o.ttl,
            approvedBy: o.approvedBy,
            attestation: o.witness
              ? { kind: 'sre-witness' as const, witnessDid: o.witness, statement: o.statement }
              : undefined,
          };
          if (o.async) {
            await s.sendElevate(request);
            emit({ sent: true }, () => 'sent (a signal: the session applies it when a worker runs)');
          } else emit(await s.elevate(request));
        }),
    );
  program
    .command('revoke <sessionId>')
    .description('end an agent’s elevation early')
    .requiredOption('--agent <did>')
    .option('--reason <text>', 'why', 'revoked')
    .option('--by <did>')
    .action((id: string, o: { agent: string; reason: string; by?: string }) =>
      withSession(id, async (s) =>
        emit(await s.revokeElevation({ agentDid: o.agent, reason: o.reason, authorizedBy: o.by })),
      ),
    );
}

function registerKillCommand(program: Command): void {
  program
    .command('kill <sessionId>')
    .description('kill an agent in a session (idempotent by --kill-id)')
    .requiredOption('--agent <did>')
    .addOption(new Option('--reason <reason>').choices(KILL_REASONS).default('manual'))
    .requiredOption('--authorized-by <did>')
    .option('--kill-id <id>')
    .option('--details <text>')
    .option('--substitute <did>', "takes over the agent's in-flight saga steps (default: the session's registered one)")
    .option('--async', 'send as a signal (durable without a running worker)')
    .action(
      (
        id: string,
        o: {
          agent: string;
          reason: KillReason;
          authorizedBy: string;
          killId?: string;
          details?: string;
          substitute?: string;
          async?: boolean;
        },
      ) =>
        withSession(id, async (s) => {
          const input = {
            agentDid: o.agent,
            reason: o.reason,
            authorizedBy: o.authorizedBy,
            killId: o.killId,
            details: o.details,
            substituteDid: o.substitute,
          };
          if (o.async) {
            await s.sendKill(input);
            emit({ sent: true }, () => 'sent (a signal: the session applies it when a worker runs)');
          } else emit(await s.kill(input));
        }),
    );
}

function registerLiabilityCommands(program: Command): void {
  program
    .command('vouch <sessionId>')
    .description('post a bond: the voucher answers for the vouchee in this session (joint liability)')
    .requiredOption('--voucher <did>')
    .requiredOption('--vouchee <did>')
    .option(
      '--bond-pct <share>',
      "share of the voucher's σ to bond (default: the session's, 0.20)",
      parseNumber('--bond-pct'),
    )
    .option('--expires-in <seconds>', 'the bond lapses after this long', parseNumber('--expires-in'))
    .action((id: string, o: { voucher: string; vouchee: string; bondPct?: number; expiresIn?: number }) =>
      withSession(id, async (s) =>
        emit(
          await s.vouch({
            voucherDid: o.voucher,
            voucheeDid: o.vouchee,
            bondPct: o.bondPct,
            expiresInSeconds: o.expiresIn,
          }),
        ),
      ),
    );
  program
    .command('quarantine <sessionId>')
    .description('read-only isolation (ring 3, no writes, no elevation) for a while, then release or kill')
    .requiredOption('--agent <did>')
    .requiredOption('--authorized-by <did>')
    .addOption(new Option('--reason <reason>').choices(QUARANTINE_REASONS).default('manual'))
    .option('--duration <seconds>', 'default 300', parseNumber('--duration'))
    .addOption(new Option('--on-timeout <what>').choices(QUARANTINE_ON_TIMEOUT).default('release'))
    .option('--details <text>')
    .option('--release', 'lift the quarantine now instead')
    .action(
      (
        id: string,
        o: {
          agent: string;
          authorizedBy: string;
          reason: QuarantineInput['reason'];
          duration?: number;
          onTimeout: NonNullable<QuarantineInput['onTimeout']>;
          details?: string;
          release?: boolean;
        },
      ) =>
        withSession(id, async (s) =>
          emit(
            o.release
              ? await s.releaseQuarantine({ agentDid: o.agent, authorizedBy: o.authorizedBy })
              : await s.quarantine({
                  agentDid: o.agent,
                  authorizedBy: o.authorizedBy,
                  reason: o.reason,
                  durationSeconds: o.duration,
                  onTimeout: o.onTimeout,
                  details: o.details,
                }),
          ),
        ),
    );
}

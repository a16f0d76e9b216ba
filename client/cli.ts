import { existsSync, createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { Command, Option } from 'commander';
import { ErrorType } from '../domain/errors.js';
import { LockIntent } from '../domain/intent-locks.js';
import { retentionCutoffMs } from '../domain/retention.js';
import { KillReason, QuarantineInput, QuarantineReason } from '../domain/session-types.js';
import { purgePayloadsBefore } from '../store/audit.js';
import { loadTrustedKeys } from '../store/audit-crypto.js';
import { devDatabaseUrl, loadMigrationUrl } from '../store/config.js';
import { createPool, type Pool } from '../store/db.js';
import { readLedger, readStanding } from '../store/liability.js';
import { devAuditPaths } from '../store/paths.js';
import { invalidateCheckpoints, listCheckpoints } from '../store/saga.js';
import { exportAuditEntries, verifyAuditChain, verifyExportFile, type VerifyAuditReport } from './audit.js';
import { HypervisorError, exitCodeFor } from './errors.js';
import { readSagaDefinitionFile, validateSaga } from './saga.js';
import type { AgentHandle, HypervisorClient, SessionHandle } from './hypervisor-client.js';

/** Exit code for a decision that was evaluated and denied (the command worked; the answer is no). */
const EXIT_DENIED = 4;
/** Exit code when `hv audit verify` finds the chain does not verify. */
const EXIT_AUDIT_FAILED = 6;

const print = (value: unknown): void => console.log(JSON.stringify(value, null, 2));

const parseJson =
  (what: string) =>
  (text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      throw new HypervisorError(ErrorType.InvalidInput, `${what} is not valid JSON: ${text}`);
    }
  };
const parseNumber =
  (what: string) =>
  (text: string): number => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value))
      throw new HypervisorError(ErrorType.InvalidInput, `${what} must be a number, got "${text}"`);
    return value;
  };

/** Postgres for the audit commands: DATABASE_URL, or the database `npm run dev` starts. */
async function withPool<T>(fn: (pool: Pool) => Promise<T>): Promise<T> {
  const pool = createPool(process.env.DATABASE_URL ?? devDatabaseUrl(), 2);
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

function auditDefaults(): { publicKeys: string[]; checkpointDir: string | null } {
  const dev = devAuditPaths();
  const configured = process.env.HV_AUDIT_PUBLIC_KEY_FILE?.split(',').filter(Boolean);
  const sink = process.env.HV_CHECKPOINT_SINK;
  const sinkDir = sink && !/^https?:\/\//.test(sink) ? sink.replace(/^file:\/\//, '') : undefined;
  return {
    publicKeys: configured ?? (existsSync(dev.publicKey) ? [dev.publicKey] : []),
    checkpointDir: sinkDir ?? (existsSync(dev.checkpoints) ? dev.checkpoints : null),
  };
}

function printVerification(r: VerifyAuditReport): void {
  const describe = (a: VerifyAuditReport['anchors'][number]) =>
    `  ${a.matches ? 'ok ' : 'BAD'} ${a.source}: ${a.size} entries, root ${a.root.slice(0, 16)}…, signature ${a.signature}`;
  // Periodic checkpoints can number in the thousands: summarise the good ones, list the bad ones.
  const periodic = r.anchors.filter((a) => !a.final);
  const periodicOk = periodic.filter((a) => a.matches && a.signature !== 'invalid');
  const lines = [
    `session ${r.sessionId}: ${r.ok ? 'VERIFIED' : 'FAILED'} — ${r.entries} entries, head ${r.head}`,
    ...r.anchors.filter((a) => a.final).map(describe),
    ...(periodicOk.length > 0
      ? [
          `  ok  ${periodicOk.length} checkpoints (up to entry ${Math.max(...periodicOk.map((a) => a.size))}), signatures ${[...new Set(periodicOk.map((a) => a.signature))].join('/')}`,
        ]
      : []),
    ...periodic.filter((a) => !periodicOk.includes(a)).map(describe),
    ...r.problems.map((p) => `  problem [${p.kind}]${p.seq === null ? '' : ` at entry ${p.seq}`}: ${p.message}`),
    ...r.warnings.map((w) => `  note: ${w}`),
  ];
  if (r.firstBad) lines.push(`first bad entry: ${r.firstBad.seq ?? '(not locatable)'}`);
  console.log(lines.join('\n'));
}

/** One connection per command, closed whatever happens. */
async function withClient<T>(fn: (hv: HypervisorClient) => Promise<T>): Promise<T> {
  // Loaded on use: the Temporal client (gRPC, protobufs) would otherwise slow every start, `hv --help` included.
  const { HypervisorClient } = await import('./hypervisor-client.js');
  const hv = await HypervisorClient.connect();
  try {
    return await fn(hv);
  } finally {
    await hv.close();
  }
}

const withSession = <T>(sessionId: string, fn: (session: SessionHandle, hv: HypervisorClient) => Promise<T>) =>
  withClient((hv) => fn(hv.session(sessionId), hv));

const program = new Command('hv')
  .description('Agent Hypervisor CLI: sessions, rings, elevation, kills, shared state and locks over Temporal.')
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) });

const session = program.command('session').description('create, inspect and end sessions');
session
  .command('create')
  .description('start a session workflow (state: handshaking)')
  .requiredOption('--creator <did>', 'DID of the creating agent or operator')
  .option('--id <sessionId>', 'session id (default: a random UUID)')
  .option(
    '--config <json>',
    'session config as JSON, e.g. {"maxParticipants":5,"minEffScore":0.7}',
    parseJson('--config'),
  )
  .action(async (opts: { creator: string; id?: string; config?: unknown }) => {
    await withClient(async (hv) => {
      const created = await hv.createSession({
        creatorDid: opts.creator,
        sessionId: opts.id,
        config: opts.config ?? {},
      });
      print(await created.view());
    });
  });
session
  .command('show <sessionId>')
  .description('the full session view')
  .action((id: string) => withSession(id, async (s) => print(await s.view())));
session
  .command('list')
  .description('sessions known to Temporal visibility')
  .option('--state <state>', 'handshaking | active | archived …')
  .option('--agent <did>', 'only sessions this agent joined')
  .action((opts: { state?: string; agent?: string }) => withClient(async (hv) => print(await hv.listSessions(opts))));
session
  .command('join <sessionId>')
  .description('join an agent; prints the ring it was given')
  .requiredOption('--agent <did>', 'agent DID')
  .option('--sigma <score>', 'raw trust score σ in [0, 1]', parseNumber('--sigma'), 0)
  .option('--actions <json-or-@file>', 'action manifest: JSON array, or @path/to/manifest.json')
  .option('--parent <did>', 'parent agent (spawned agents get at most parent ring + 1)')
  .action((id: string, opts: { agent: string; sigma: number; actions?: string; parent?: string }) =>
    withSession(id, async (s) => {
      const text = opts.actions?.startsWith('@') ? await readFile(opts.actions.slice(1), 'utf8') : opts.actions;
      const actions = text === undefined ? [] : parseJson('--actions')(text);
      print(
        await s.join({ agentDid: opts.agent, sigmaRaw: opts.sigma, actions: actions as never, parentDid: opts.parent }),
      );
    }),
  );
session
  .command('approve <sessionId>')
  .description('approve a ring-1 join (by a ring ≤ 1 participant, or an operator when there is none)')
  .requiredOption('--candidate <did>')
  .requiredOption('--approver <did>')
  .action((id: string, o: { candidate: string; approver: string }) =>
    withSession(id, async (s) => print(await s.approveJoin({ candidateDid: o.candidate, approverDid: o.approver }))),
  );
session
  .command('leave <sessionId>')
  .requiredOption('--agent <did>')
  .action((id: string, o: { agent: string }) =>
    withSession(id, async (s) => print(await s.leave({ agentDid: o.agent }))),
  );
session
  .command('activate <sessionId>')
  .option('--by <did>', 'who activates it')
  .action((id: string, o: { by?: string }) =>
    withSession(id, async (s) => print(await s.activate({ authorizedBy: o.by }))),
  );
session
  .command('terminate <sessionId>')
  .description('terminate and print the commitment')
  .option('--reason <text>', 'why', 'requested')
  .option('--by <did>', 'who terminates it')
  .action((id: string, o: { reason: string; by?: string }) =>
    withSession(id, async (s) => print(await s.terminate({ reason: o.reason, authorizedBy: o.by }))),
  );
session
  .command('audit <sessionId>')
  .description('the latest audit entries recorded by the session')
  .option('--limit <n>', 'how many', parseNumber('--limit'), 20)
  .action((id: string, o: { limit: number }) => withSession(id, async (s) => print(await s.auditTail(o.limit))));

program
  .command('authorize <sessionId>')
  .description('ask whether an agent may perform an action (exit 4 when denied)')
  .requiredOption('--agent <did>')
  .requiredOption('--action <actionId>')
  .option('--cost <n>', 'tokens this call costs', parseNumber('--cost'), 1)
  .action((id: string, o: { agent: string; action: string; cost: number }) =>
    withSession(id, async (s) => {
      const decision = await s.authorize({ agentDid: o.agent, actionId: o.action, cost: o.cost });
      print(decision);
      if (!decision.allowed) process.exitCode = EXIT_DENIED;
    }),
  );

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
          print({ sent: true });
        } else print(await s.elevate(request));
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
      print(await s.revokeElevation({ agentDid: o.agent, reason: o.reason, authorizedBy: o.by })),
    ),
  );
program
  .command('kill <sessionId>')
  .description('kill an agent in a session (idempotent by --kill-id)')
  .requiredOption('--agent <did>')
  .addOption(new Option('--reason <reason>').choices(KillReason.options).default('manual'))
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
          print({ sent: true });
        } else print(await s.kill(input));
      }),
  );

const state = program.command('state').description('the session’s shared state (VFS)');
state
  .command('write <sessionId> <path>')
  .requiredOption('--agent <did>')
  .option('--content <text>')
  .option('--file <file>', 'read the content from a file')
  .option('--base-version <n>', 'expected current version (optimistic concurrency)', parseNumber('--base-version'))
  .action((id: string, path: string, o: { agent: string; content?: string; file?: string; baseVersion?: number }) =>
    withSession(id, async (s) => {
      const content = o.file ? await readFile(o.file, 'utf8') : o.content;
      if (content === undefined) throw new HypervisorError(ErrorType.InvalidInput, 'give --content or --file');
      print(await s.write({ agentDid: o.agent, path, content, baseVersion: o.baseVersion }));
    }),
  );
state
  .command('read <sessionId> <path>')
  .requiredOption('--agent <did>')
  .action((id: string, path: string, o: { agent: string }) =>
    withSession(id, async (s) => print(await s.read({ agentDid: o.agent, path }))),
  );
state
  .command('delete <sessionId> <path>')
  .requiredOption('--agent <did>')
  .option('--base-version <n>', 'expected current version', parseNumber('--base-version'))
  .action((id: string, path: string, o: { agent: string; baseVersion?: number }) =>
    withSession(id, async (s) => print(await s.delete({ agentDid: o.agent, path, baseVersion: o.baseVersion }))),
  );
state
  .command('list <sessionId>')
  .requiredOption('--agent <did>')
  .option('--prefix <path>')
  .action((id: string, o: { agent: string; prefix?: string }) =>
    withSession(id, async (s) => print(await s.list({ agentDid: o.agent, prefix: o.prefix }))),
  );
state
  .command('permit <sessionId> <path>')
  .description('restrict a path to the given agents (--clear removes the restriction)')
  .requiredOption('--agent <did>', 'who sets it (the creator of the file or a ring ≤ 2 agent)')
  .option('--allow <dids...>', 'agents allowed to access the path')
  .option('--clear', 'remove the restriction')
  .action((id: string, path: string, o: { agent: string; allow?: string[]; clear?: boolean }) =>
    withSession(id, async (s) =>
      print(await s.setPermissions({ agentDid: o.agent, path, agents: o.clear ? null : (o.allow ?? []) })),
    ),
  );
state
  .command('snapshot <sessionId>')
  .requiredOption('--agent <did>')
  .option('--id <snapshotId>')
  .action((id: string, o: { agent: string; id?: string }) =>
    withSession(id, async (s) => print(await s.snapshot({ agentDid: o.agent, snapshotId: o.id }))),
  );
state
  .command('restore <sessionId> <snapshotId>')
  .requiredOption('--agent <did>')
  .action((id: string, snapshotId: string, o: { agent: string }) =>
    withSession(id, async (s) => print(await s.restore({ agentDid: o.agent, snapshotId }))),
  );

const lock = program.command('lock').description('intent locks on shared resources');
lock
  .command('acquire <sessionId> <path>')
  .requiredOption('--agent <did>')
  .addOption(new Option('--intent <intent>').choices(LockIntent.options).default('write'))
  .option('--ttl <seconds>', 'lock TTL', parseNumber('--ttl'))
  .action((id: string, path: string, o: { agent: string; intent: LockIntent; ttl?: number }) =>
    withSession(id, async (s) =>
      print(await s.acquireLock({ agentDid: o.agent, path, intent: o.intent, ttlSeconds: o.ttl })),
    ),
  );
lock
  .command('release <sessionId> <lockId>')
  .requiredOption('--agent <did>')
  .action((id: string, lockId: string, o: { agent: string }) =>
    withSession(id, async (s) => print(await s.releaseLock({ agentDid: o.agent, lockId }))),
  );
lock
  .command('list <sessionId>')
  .option('--agent <did>')
  .option('--path <path>')
  .action((id: string, o: { agent?: string; path?: string }) => withSession(id, async (s) => print(await s.locks(o))));

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
      print(
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
  .addOption(new Option('--reason <reason>').choices(QuarantineReason.options).default('manual'))
  .option('--duration <seconds>', 'default 300', parseNumber('--duration'))
  .addOption(
    new Option('--on-timeout <what>').choices(QuarantineInput.shape.onTimeout.unwrap().options).default('release'),
  )
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
        print(
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

const agent = program.command('agent').description("an agent identity's kill switch");
const withAgent = <T>(did: string, fn: (a: AgentHandle) => Promise<T>) => withClient((hv) => fn(hv.agent(did)));
agent
  .command('status <did>')
  .description('blocked or not, the deny rate over the window, the configuration')
  .action((did: string) => withAgent(did, async (a) => print(await a.status())));
agent
  .command('trip <did>')
  .description('operator trip: block the identity everywhere (kills it in every session it is in)')
  .requiredOption('--reason <text>')
  .requiredOption('--authorized-by <did>')
  .action((did: string, o: { reason: string; authorizedBy: string }) =>
    withAgent(did, async (a) => print(await a.trip({ reason: o.reason, authorizedBy: o.authorizedBy }))),
  );
agent
  .command('unblock <did>')
  .description('lift a block (the deny-rate window starts empty)')
  .requiredOption('--reason <text>')
  .requiredOption('--authorized-by <did>')
  .action((did: string, o: { reason: string; authorizedBy: string }) =>
    withAgent(did, async (a) => print(await a.unblock({ reason: o.reason, authorizedBy: o.authorizedBy }))),
  );
agent
  .command('configure <did>')
  .description(
    'kill-switch configuration, e.g. {"enabled":true,"window_seconds":300,"deny_rate_threshold":0.9,"min_calls":10}',
  )
  .argument('<config>', 'JSON', parseJson('config'))
  .action((did: string, config: Record<string, unknown>) =>
    withAgent(did, async (a) => print(await a.configure(config))),
  );

program
  .command('ledger')
  .description('the liability ledger')
  .command('show <did>')
  .description("an agent's standing (σ after slashes, risk, admit/probation/deny) and its ledger entries")
  .action((did: string) =>
    withPool(async (pool) => print({ standing: await readStanding(pool, did), entries: await readLedger(pool, did) })),
  );

const saga = program.command('saga').description('sagas: validate, start, follow, resume, checkpoints');
saga
  .command('validate <file>')
  .description('check a saga definition (YAML or JSON); lists every error with its path, exit 2 when invalid')
  .action(async (file: string) => {
    const issues = validateSaga(await readSagaDefinitionFile(file));
    if (issues.length === 0) {
      console.log(`${file}: valid`);
      return;
    }
    for (const issue of issues) console.log(`${file}: ${issue.path}: ${issue.message}`);
    process.exitCode = 2;
  });
saga
  .command('start <file>')
  .description('start the saga in a definition file')
  .option('--id <sagaId>', 'saga id (default: saga_id from the file, else a random UUID)')
  .option('--agent-queue <did=queue...>', "route an agent's steps to its own task queue")
  .option('--wait', 'wait for the saga to end and print its final state')
  .action(async (file: string, o: { id?: string; agentQueue?: string[]; wait?: boolean }) => {
    const definition = await readSagaDefinitionFile(file);
    const agentTaskQueues = Object.fromEntries(
      (o.agentQueue ?? []).map((pair) => {
        const at = pair.indexOf('=');
        if (at <= 0) throw new HypervisorError(ErrorType.InvalidInput, `--agent-queue expects did=queue, got ${pair}`);
        return [pair.slice(0, at), pair.slice(at + 1)];
      }),
    );
    await withClient(async (hv) => {
      const handle = await hv.startSaga(definition, { sagaId: o.id, options: { agentTaskQueues } });
      if (!o.wait) return print({ sagaId: handle.sagaId, workflowId: handle.workflow.workflowId });
      const view = await handle.result();
      print(view);
      if (view.status !== 'completed') process.exitCode = EXIT_DENIED;
    });
  });
saga
  .command('show <sagaId>')
  .description('progress of a running saga, or the final state of an ended one')
  .action((id: string) => withClient(async (hv) => print(await hv.saga(id).progress())));
saga
  .command('resume <sagaId>')
  .description('run an ended saga again; steps with an achieved checkpoint goal are skipped')
  .option('--wait', 'wait for the saga to end')
  .action((id: string, o: { wait?: boolean }) =>
    withClient(async (hv) => {
      const handle = await hv.resumeSaga(id);
      print(o.wait ? await handle.result() : { sagaId: id, resumed: true });
    }),
  );
saga
  .command('cancel <sagaId>')
  .description('cancel a running saga: its committed steps are compensated')
  .action((id: string) =>
    withClient(async (hv) => {
      await hv.saga(id).cancel();
      print({ sagaId: id, cancelRequested: true });
    }),
  );
saga
  .command('checkpoints <sagaId>')
  .description("the saga's checkpoints in Postgres")
  .action((id: string) => withPool(async (pool) => print(await listCheckpoints(pool, id))));
saga
  .command('invalidate <sagaId>')
  .description('invalidate checkpoints so a resume runs those steps again')
  .option('--step <stepId>', 'only this step')
  .option('--by <who>', 'recorded as the invalidator', 'operator')
  .action((id: string, o: { step?: string; by: string }) =>
    withPool(async (pool) =>
      print({ invalidated: await invalidateCheckpoints(pool, { sagaId: id, stepId: o.step, by: o.by }) }),
    ),
  );

const audit = program
  .command('audit')
  .description('the audit trail in Postgres (DATABASE_URL, default: the `npm run dev` database)');
audit
  .command('verify <sessionId>')
  .description('recompute the chain from Postgres and check it against the commitment, its signature and checkpoints')
  .option(
    '--public-key <file...>',
    'trusted Ed25519 public key(s), PEM (default: HV_AUDIT_PUBLIC_KEY_FILE, or the dev key)',
  )
  .option('--checkpoints <dir>', 'checkpoint directory (default: HV_CHECKPOINT_SINK when a directory, or the dev one)')
  .option('--allow-unsigned', 'accept unsigned commitments and checkpoints even when trusted keys are given')
  .option('--offline', 'do not ask Temporal for the workflow result (verify from Postgres and checkpoints only)')
  .option('--json', 'print the full report as JSON')
  .action(
    async (
      id: string,
      o: {
        publicKey?: string[];
        checkpoints?: string;
        allowUnsigned?: boolean;
        offline?: boolean;
        json?: boolean;
      },
    ) => {
      const defaults = auditDefaults();
      const trustedKeys = await loadTrustedKeys(o.publicKey ?? defaults.publicKeys);
      const checkpointDir = o.checkpoints ?? defaults.checkpointDir;
      const progress = (n: number) => process.stderr.write(`verified ${n} entries…\n`);
      const report = await withPool(async (pool) => {
        const requireSignatures = trustedKeys.size > 0 && !o.allowUnsigned;
        const options = { pool, trustedKeys, checkpointDir, requireSignatures, onProgress: progress };
        if (o.offline) return verifyAuditChain(id, options);
        return withSession(id, (s) => s.verifyAudit(options));
      });
      if (o.json) print(report);
      else printVerification(report);
      if (!report.ok) process.exitCode = EXIT_AUDIT_FAILED;
    },
  );
audit
  .command('verify-file <file>')
  .description('verify a chain exported with `hv audit export`, offline (checkpoints and keys as for verify)')
  .option('--public-key <file...>', 'trusted Ed25519 public key(s), PEM')
  .option('--checkpoints <dir>', 'checkpoint directory')
  .option('--json', 'print the full report as JSON')
  .action(async (file: string, o: { publicKey?: string[]; checkpoints?: string; json?: boolean }) => {
    const defaults = auditDefaults();
    const report = await verifyExportFile(file, {
      trustedKeys: await loadTrustedKeys(o.publicKey ?? defaults.publicKeys),
      checkpointDir: o.checkpoints ?? defaults.checkpointDir,
    });
    if (o.json) print(report);
    else printVerification(report);
    if (!report.ok) process.exitCode = EXIT_AUDIT_FAILED;
  });
audit
  .command('export <sessionId>')
  .description('write the chain as JSON Lines, one entry per line in seq order')
  .option('--out <file>', 'write to a file instead of stdout')
  .action(async (id: string, o: { out?: string }) => {
    await withPool(async (pool) => {
      const out = o.out ? createWriteStream(o.out) : process.stdout;
      let count = 0;
      for await (const entry of exportAuditEntries(pool, id)) {
        count += 1;
        if (!out.write(`${JSON.stringify(entry)}\n`)) await once(out, 'drain');
      }
      if (count === 0) throw new HypervisorError(ErrorType.NotFound, `no audit entries for session ${id}`);
      if (o.out) {
        await new Promise<void>((resolve, reject) =>
          (out as WriteStream).end((err?: Error | null) => (err ? reject(err) : resolve())),
        );
        console.error(`exported ${count} entries to ${o.out}`);
      }
    });
  });
audit
  .command('purge')
  .description('retention: drop payloads older than the retention period (hashes and commitments are kept)')
  .option(
    '--retention-days <days>',
    'retention period (default: HV_AUDIT_RETENTION_DAYS or 180)',
    parseNumber('--retention-days'),
  )
  .action(async (o: { retentionDays?: number }) => {
    const days = o.retentionDays ?? Number(process.env.HV_AUDIT_RETENTION_DAYS ?? 180);
    if (!Number.isInteger(days) || days < 1)
      throw new HypervisorError(ErrorType.InvalidInput, `--retention-days must be a whole number ≥ 1, got ${days}`);
    const purged = await withPool((pool) => purgePayloadsBefore(pool, retentionCutoffMs(Date.now(), days)));
    print({ retentionDays: days, purged });
  });

program
  .command('db')
  .description('database maintenance')
  .command('migrate')
  .description('apply pending migrations over DATABASE_MIGRATION_URL (the owner role), else DATABASE_URL')
  .action(async () => {
    const { runMigrations } = await import('../store/migrate.js');
    print({ applied: await runMigrations(loadMigrationUrl()) });
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof HypervisorError) {
    console.error(`error [${err.type}]: ${err.message}`);
    process.exit(exitCodeFor(err.type));
  }
  console.error(`error: ${(err as Error).message ?? String(err)}`);
  process.exit(1);
});

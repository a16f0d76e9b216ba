import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Command } from 'commander';
import { ErrorType } from '../../domain/errors.js';
import { retentionCutoffMs } from '../../domain/retention.js';
import { devAuditPaths } from '../../store/paths.js';
import type { VerifyAuditReport } from '../audit.js';
import { HypervisorError } from '../errors.js';
import { EXIT_AUDIT_FAILED, parseNumber, withPool, withSession } from './common.js';
import { c, emit } from './output.js';

// Loaded on use: verification and export pull in the store (pg) and its crypto, which `hv --help` does not need.
const auditLib = () => import('../audit.js');
const trusted = async (files: string[]) => (await import('../../store/audit-crypto.js')).loadTrustedKeys(files);

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

function formatVerification(r: VerifyAuditReport): string {
  const describe = (a: VerifyAuditReport['anchors'][number]) =>
    `  ${a.matches ? 'ok ' : 'BAD'} ${a.source}: ${a.size} entries, root ${a.root.slice(0, 16)}…, signature ${a.signature}`;
  // Periodic checkpoints can number in the thousands: summarise the good ones, list the bad ones.
  const periodic = r.anchors.filter((a) => !a.final);
  const periodicOk = periodic.filter((a) => a.matches && a.signature !== 'invalid');
  const lines = [
    `session ${r.sessionId}: ${r.ok ? c.green('VERIFIED') : c.red('FAILED')} — ${r.entries} entries, head ${r.head}`,
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
  return lines.join('\n');
}

/** One connection per command, closed whatever happens. */

/** `hv audit …` (verify, export, purge) and `hv db migrate`. */
export function registerAuditCommands(program: Command): void {
  const audit = registerVerifyCommands(program);
  registerAuditStoreCommands(audit);
  registerDbCommands(program);
}

function registerVerifyCommands(program: Command): Command {
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
    .option(
      '--checkpoints <dir>',
      'checkpoint directory (default: HV_CHECKPOINT_SINK when a directory, or the dev one)',
    )
    .option('--allow-unsigned', 'accept unsigned commitments and checkpoints even when trusted keys are given')
    .option('--offline', 'do not ask Temporal for the workflow result (verify from Postgres and checkpoints only)')
    .action(
      async (
        id: string,
        o: {
          publicKey?: string[];
          checkpoints?: string;
          allowUnsigned?: boolean;
          offline?: boolean;
        },
      ) => {
        const defaults = auditDefaults();
        const trustedKeys = await trusted(o.publicKey ?? defaults.publicKeys);
        const { verifyAuditChain } = await auditLib();
        const checkpointDir = o.checkpoints ?? defaults.checkpointDir;
        const progress = (n: number) => process.stderr.write(`verified ${n} entries…\n`);
        const report = await withPool(async (pool) => {
          const requireSignatures = trustedKeys.size > 0 && !o.allowUnsigned;
          const options = { pool, trustedKeys, checkpointDir, requireSignatures, onProgress: progress };
          if (o.offline) return verifyAuditChain(id, options);
          return withSession(id, (s) => s.verifyAudit(options));
        });
        emit(report, formatVerification);
        if (!report.ok) process.exitCode = EXIT_AUDIT_FAILED;
      },
    );
  audit
    .command('verify-file <file>')
    .description('verify a chain exported with `hv audit export`, offline (checkpoints and keys as for verify)')
    .option('--public-key <file...>', 'trusted Ed25519 public key(s), PEM')
    .option('--checkpoints <dir>', 'checkpoint directory')
    .action(async (file: string, o: { publicKey?: string[]; checkpoints?: string }) => {
      const defaults = auditDefaults();
      const report = await (
        await auditLib()
      ).verifyExportFile(file, {
        trustedKeys: await trusted(o.publicKey ?? defaults.publicKeys),
        checkpointDir: o.checkpoints ?? defaults.checkpointDir,
      });
      emit(report, formatVerification);
      if (!report.ok) process.exitCode = EXIT_AUDIT_FAILED;
    });
  return audit;
}

function registerAuditStoreCommands(audit: Command): void {
  audit
    .command('export <sessionId>')
    .description('write the chain as JSON Lines, one entry per line in seq order')
    .option('--out <file>', 'write to a file instead of stdout')
    .action(async (id: string, o: { out?: string }) => {
      await withPool(async (pool) => {
        const out = o.out ? createWriteStream(o.out) : process.stdout;
        let count = 0;
        for await (const entry of (await auditLib()).exportAuditEntries(pool, id)) {
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
      const { purgePayloadsBefore } = await import('../../store/audit.js');
      const purged = await withPool((pool) => purgePayloadsBefore(pool, retentionCutoffMs(Date.now(), days)));
      emit({ retentionDays: days, purged });
    });
}

function registerDbCommands(program: Command): void {
  program
    .command('db')
    .description('database maintenance')
    .command('migrate')
    .description('apply pending migrations over DATABASE_MIGRATION_URL (the owner role), else DATABASE_URL')
    .action(async () => {
      const { runMigrations } = await import('../../store/migrate.js');
      const { loadMigrationUrl } = await import('../../store/config.js');
      emit({ applied: await runMigrations(loadMigrationUrl()) });
    });
}

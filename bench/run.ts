/**
 * `npm run bench` — the benchmark harness (docs/DESIGN.md §9, §R10). Every figure is a ratio to a probe taken in the same
 * run, interleaved ABAB, median of the repetitions with the IQR, because the disk varies ±30 % between runs.
 *
 * Suites: (a) the reference's pure domain ops in-process (bench/domain.ts; `--only=domain` needs no server), (c) audit
 * append vs raw Postgres and verification speed (this file); then, on one Temporal dev server and
 * worker process, governance (authorize ÷ no-op update, history per call; bench/governance.ts), (b) pipeline ÷ empty
 * workflow (bench/pipeline.ts), (d) kill ack (bench/kill.ts), (e) scaling with open sessions (bench/scaling.ts) and
 * the soak (bench/soak.ts: sessions × agents under steady load for minutes, operators killing 5 % of the agents, then
 * every chain and every workflow checked; `--soak-sessions=`, `--soak-minutes=`, `--soak-pace-ms=` size it).
 * `--quick` (CI-sized) or the default full run. Results: JSON Lines in bench-results/<timestamp>.jsonl and a Markdown
 * summary on stdout. Only hard invariants fail the run (a lost or duplicated link, a chain that does not verify, a
 * routine authorization denied, an unsigned commitment, a tool call allowed after a kill returned, a domain op that did
 * not do its work; in the soak, any call that threw and any stuck workflow); goals get verdicts.
 */
import { randomUUID } from 'node:crypto';
import { appendFile, chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createAuditActivities } from '../activities/audit.js';
import { createPool, type Pool } from '../store/db.js';
import { verifyAuditChain } from '../client/audit.js';
import { appendEntry, canonicalJson, genesisHead, type ChainedEntry, type ChainHead } from '../domain/audit-chain.js';
import { runMigrations } from '../store/migrate.js';
import { projectRoot } from '../store/paths.js';
import { startEmbeddedPostgres } from '../worker/postgres.js';
import { freePort } from '../worker/processes.js';
import { appendEntryBefore } from './previous-link-builder.js';
import { domainSuite, domainSummary, type DomainSample } from './domain.js';
import { governanceSuite, governanceSummary } from './governance.js';
import { killSuite, killSummary } from './kill.js';
import { PIPELINE_CONCURRENCY, pipelineSuite, pipelineSummary } from './pipeline.js';
import { scalingSuite, scalingSummary } from './scaling.js';
import { soakSuite, soakSummary, type SoakOptions } from './soak.js';
import { median, quantile, type Measure } from './stats.js';
import { startTemporalBench } from './temporal-env.js';

const quick = process.argv.includes('--quick');
/** `--only=pipeline,kill` runs just those suites (audit, governance, pipeline, kill, scaling, soak): to work on one. */
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const runs = (suite: string) => !only || only.includes(suite);
const SECONDS = quick ? 1 : 3;
const REPS = quick ? 3 : 5;
const BATCH = 200;
const VERIFY_LINKS = quick ? 20_000 : 100_000;
const MB = 1024 * 1024;

/** `--name=value` as a positive number, or `fallback` when absent; anything else stops the run before it starts. */
function numberFlag(name: string, fallback: number): number {
  const raw = process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!(value > 0) || !Number.isFinite(value)) {
    console.error(`--${name} must be a positive number, not ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

/**
 * The soak's size. Full: 300 sessions × 3 agents for 10 minutes, each agent one call every 30 s: 30 calls/s offered,
 * about what this 2-core machine sustains with the servers and the bench on it (≈ 1.1 cores at 30 calls/s, measured
 * with 120 agents). Quick (CI): 20 × 3 for 45 s, one call per 3 s (20 calls/s), the kills and every check included.
 */
const SOAK: Pick<SoakOptions, 'sessions' | 'agentsPerSession' | 'seconds' | 'paceMs' | 'killShare' | 'baselineCalls'> =
  {
    sessions: Math.round(numberFlag('soak-sessions', quick ? 20 : 300)),
    agentsPerSession: 3,
    seconds: numberFlag('soak-minutes', quick ? 0.75 : 10) * 60,
    paceMs: numberFlag('soak-pace-ms', quick ? 3_000 : 30_000),
    killShare: 0.05,
    baselineCalls: quick ? 50 : 200,
  };

interface Sample {
  suite: string;
  name: string;
  rep: number;
  perSecond: number;
}

/** A 250-byte-ish payload like a decision entry. */
const payload = (i: number) => ({
  actionId: 'edit-doc',
  allowed: i % 7 !== 0,
  reason: i % 7 ? 'allowed' : 'ring_violation',
  requiredRing: 2,
  effectiveRing: 2,
  tokensLeft: 17.5,
  breach: { score: 0.2, severity: 'none' },
  i,
});

/** One writer's chain: links are produced exactly as the session workflow produces them (hashing included). */
class ChainWriter {
  private head: ChainHead = genesisHead();
  readonly sessionId = `bench-${randomUUID()}`;
  constructor(private readonly append: typeof appendEntry = appendEntry) {}
  next(n: number): ChainedEntry[] {
    const out: ChainedEntry[] = [];
    for (let i = 0; i < n; i++) {
      const r = this.append(this.head, {
        sessionId: this.sessionId,
        kind: 'decision',
        agentDid: 'did:mesh:bench',
        payload: payload(this.head.seq),
        recordedAtMs: 1_795_000_000_000 + this.head.seq,
        workflowId: `session:${this.sessionId}`,
        runId: 'bench-run',
      });
      this.head = r.head;
      out.push(r.chained);
    }
    return out;
  }
}

/** The same rows, without hashing or checks, into a copy of the table without its trigger: the substrate's speed. */
async function rawInsert(pool: Pool, sessionId: string, fromSeq: number, n: number): Promise<void> {
  const seqs = Array.from({ length: n }, (_, i) => fromSeq + i);
  await pool.query(
    `INSERT INTO bench_raw (session_id, seq, format, kind, agent_did, payload_hash, payload, recorded_at_ms, recorded_at,
                            workflow_id, run_id, prev_hash, hash)
     SELECT $1, s, 'hv-audit-v1', 'decision', 'did:mesh:bench', $2, $3, 0, now(), 'w', 'r', $2, $2
       FROM unnest($4::bigint[]) AS s`,
    [sessionId, 'a'.repeat(64), canonicalJson(payload(fromSeq)), seqs],
  );
}

/** Runs `op` back to back on `writers` concurrent writers for SECONDS; returns rows per second. */
async function rate(writers: number, op: (writer: number) => Promise<number> | number): Promise<number> {
  const until = performance.now() + SECONDS * 1000;
  const start = performance.now();
  const counts = await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      let rows = 0;
      while (performance.now() < until) rows += await op(w);
      return rows;
    }),
  );
  return counts.reduce((a, b) => a + b, 0) / ((performance.now() - start) / 1000);
}

type RecordSample = (sample: Sample) => Promise<void>;
type AppendLinks = (sessionId: string, entries: ChainedEntry[]) => Promise<number>;

/** Suite (c): audit append against a raw multi-row INSERT of the same rows, ABAB within each repetition. */
async function appendSuite(pool: Pool, appendLinks: AppendLinks, record: RecordSample): Promise<void> {
  const cases: Array<{ name: string; writers: number; batch: number }> = [
    { name: 'batched, 1 writer', writers: 1, batch: BATCH },
    { name: 'batched, 8 writers (per-session chains)', writers: 8, batch: BATCH },
    { name: 'one row per commit, 1 writer', writers: 1, batch: 1 },
    { name: 'one row per commit, 8 writers', writers: 8, batch: 1 },
  ];
  // Warm-up, discarded.
  const warm = new ChainWriter();
  await rate(1, () => appendLinks(warm.sessionId, warm.next(BATCH)));
  for (let rep = 1; rep <= REPS; rep++) {
    for (const c of cases) {
      // ABAB: the probe and the measured path alternate within each repetition.
      const rawSessions = Array.from({ length: c.writers }, () => ({ id: `raw-${randomUUID()}`, seq: 1 }));
      const rawRate = await rate(c.writers, async (w) => {
        const s = rawSessions[w]!;
        await rawInsert(pool, s.id, s.seq, c.batch);
        s.seq += c.batch;
        return c.batch;
      });
      await record({ suite: 'audit', name: `raw INSERT, ${c.name}`, rep, perSecond: rawRate });
      // The links are built before the clock starts: in production the session workflow builds them, and the
      // store is what is measured here. Building them is measured on its own below.
      const perWriter = Math.max(c.batch, Math.round((rawRate * SECONDS) / c.writers / c.batch) * c.batch);
      const writers = Array.from({ length: c.writers }, () => new ChainWriter());
      const batches = writers.map((w) => Array.from({ length: perWriter / c.batch }, () => w.next(c.batch)));
      const t0 = performance.now();
      await Promise.all(
        writers.map(async (w, i) => {
          for (const entries of batches[i]!) await appendLinks(w.sessionId, entries);
        }),
      );
      const linkRate = (perWriter * c.writers) / ((performance.now() - t0) / 1000);
      await record({ suite: 'audit', name: `audit links, ${c.name}`, rep, perSecond: linkRate });
    }
    const builder = new ChainWriter();
    const built = await rate(1, () => {
      builder.next(BATCH);
      return BATCH;
    });
    await record({
      suite: 'audit',
      name: 'links built (workflow-side canonical JSON + pure-JS SHA-256)',
      rep,
      perSecond: built,
    });
    // The same links with the builder this project used before (recursive canonical JSON, @noble/hashes): the
    // before/after of the hashing change, in the same run.
    const before = new ChainWriter(appendEntryBefore);
    const builtBefore = await rate(1, () => {
      before.next(BATCH);
      return BATCH;
    });
    await record({
      suite: 'audit',
      name: 'links built, previous builder (@noble/hashes)',
      rep,
      perSecond: builtBefore,
    });
  }
}

/** Hard invariant: every link written is stored exactly once. */
async function storedOnce(pool: Pool, written: Map<string, number>): Promise<string[]> {
  const failures: string[] = [];
  for (const [sessionId, count] of written) {
    const { rows } = await pool.query<{ n: string; max: string }>(
      'SELECT count(*) AS n, max(seq) AS max FROM audit_entries WHERE session_id = $1',
      [sessionId],
    );
    if (Number(rows[0]!.n) !== count || Number(rows[0]!.max) !== count)
      failures.push(`${sessionId}: wrote ${count} links, stored ${rows[0]!.n} (max seq ${rows[0]!.max})`);
  }
  return failures;
}

/** Verification speed, streaming from Postgres; a chain that does not verify is a failure. */
async function verifySuite(pool: Pool, appendLinks: AppendLinks, record: RecordSample): Promise<string[]> {
  const failures: string[] = [];
  const long = new ChainWriter();
  for (let n = 0; n < VERIFY_LINKS; n += 1000) await appendLinks(long.sessionId, long.next(1000));
  for (let rep = 1; rep <= REPS; rep++) {
    const t0 = performance.now();
    const report = await verifyAuditChain(long.sessionId, { pool });
    const perSecond = report.entries / ((performance.now() - t0) / 1000);
    if (!report.ok || report.entries !== VERIFY_LINKS) failures.push(`verification of ${VERIFY_LINKS} links failed`);
    await record({ suite: 'audit', name: `verify (streamed from Postgres, ${VERIFY_LINKS} links)`, rep, perSecond });
  }
  return failures;
}

/** The Markdown summary: medians, IQRs and the same-run ratios. */
function summary(samples: Sample[], failures: string[], out: string, extra: string[]): string {
  const names = [...new Set(samples.map((s) => s.name))];
  const stats = new Map(
    names.map((name) => {
      const xs = samples.filter((s) => s.name === name).map((s) => s.perSecond);
      return [name, { median: median(xs), iqr: quantile(xs, 0.75) - quantile(xs, 0.25) }] as const;
    }),
  );
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
  return [
    `## Benchmark (${quick ? 'quick' : 'full'}: ${REPS} repetitions × ${SECONDS} s, median and IQR)`,
    '',
    '| measurement | per second (median) | IQR |',
    '| --- | ---: | ---: |',
    ...names.map((n) => `| ${n} | ${fmt(stats.get(n)!.median)} | ${fmt(stats.get(n)!.iqr)} |`),
    '',
    '| ratio (same run) | value |',
    '| --- | ---: |',
    ...names
      .filter((n) => n.startsWith('audit links, '))
      .map((n) => {
        const raw = stats.get(n.replace('audit links, ', 'raw INSERT, '))!.median;
        return `| R_c ${n.replace('audit links, ', '')}: links/s ÷ raw INSERT rows/s | ${(stats.get(n)!.median / raw).toFixed(2)} |`;
      }),
    '',
    ...extra,
    failures.length === 0
      ? 'Invariants: every link stored exactly once; every chain verified; every routine authorization allowed; every ' +
        'pipeline ended with a signed commitment; no tool call allowed after a kill returned; every domain op did its ' +
        'work; no call, join, kill or terminate threw and no workflow got stuck or failed a task (soak).'
      : 'INVARIANT FAILURES:',
    ...failures.map((f) => `- ${f}`),
    '',
    `Raw samples: ${path.relative(projectRoot, out)}`,
  ].join('\n');
}

/** Levels of the scaling suite: N=10,000 belongs to the full run only. */
const SCALING_LEVELS = quick ? [20, 60] : [100, 1_000, 10_000];

/** The Temporal suites, on one dev server and worker process; returns the Markdown sections and the failures. */
async function temporalSuites(
  databaseUrl: string,
  pool: Pool,
  out: string,
): Promise<{ sections: string[]; failures: string[] }> {
  const bySuite = new Map<string, Measure[]>();
  const record = async (sample: Measure) => {
    bySuite.set(sample.suite, [...(bySuite.get(sample.suite) ?? []), sample]);
    await appendFile(out, `${JSON.stringify(sample)}\n`);
  };
  const failures: string[] = [];
  const notes: string[] = [];
  const env = await startTemporalBench(databaseUrl, out.replace(/\.jsonl$/, ''));
  const stages: Array<{ suite: string; title: string; run: () => Promise<{ failures?: string[]; notes?: string[] }> }> =
    [
      {
        suite: 'governance',
        title: 'governance: authorize ÷ no-op update, history per call',
        run: () => governanceSuite(env, { reps: REPS, calls: quick ? 50 : 200, record }),
      },
      {
        suite: 'pipeline',
        title: `(b) pipeline ÷ empty workflow at concurrency ${(quick ? PIPELINE_CONCURRENCY.slice(0, 2) : PIPELINE_CONCURRENCY).join(', ')}`,
        run: () =>
          pipelineSuite(env, {
            reps: REPS,
            seconds: quick ? 1.5 : 8,
            levels: quick ? PIPELINE_CONCURRENCY.slice(0, 2) : PIPELINE_CONCURRENCY,
            record,
          }),
      },
      {
        suite: 'kill',
        title: '(d) kill ack, unloaded and under load',
        run: () => killSuite(env, { reps: REPS, trials: quick ? 2 : 5, record }),
      },
      {
        suite: 'scaling',
        title: `(e) scaling: ${SCALING_LEVELS.join(', ')} open sessions`,
        run: () =>
          scalingSuite(env, {
            levels: SCALING_LEVELS,
            reps: REPS,
            seconds: quick ? 1 : 3,
            openBudgetSeconds: quick ? 45 : 1_500,
            rssCapBytes: Number(process.env.HV_BENCH_RSS_CAP_MB ?? 6144) * MB,
            record,
          }),
      },
      {
        suite: 'soak',
        title: `soak: ${SOAK.sessions} sessions × ${SOAK.agentsPerSession} agents for ${SOAK.seconds} s`,
        run: () => soakSuite(env, { ...SOAK, pool, record }),
      },
    ];
  const t0 = performance.now();
  try {
    for (const stage of stages.filter((s) => runs(s.suite))) {
      console.error(`[bench] ${stage.title} (at ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
      const result = await stage.run();
      failures.push(...(result.failures ?? []));
      notes.push(...(result.notes ?? []));
    }
  } finally {
    await env.stop();
  }
  const of = (suite: string) => bySuite.get(suite) ?? [];
  const sections = [
    ...governanceSummary(of('governance')),
    ...pipelineSummary(of('pipeline')),
    ...killSummary(of('kill')),
    ...scalingSummary(of('scaling'), SCALING_LEVELS),
    ...soakSummary(of('soak'), SOAK),
    ...notes.map((n) => `Note: ${n}.`),
    ...(notes.length ? [''] : []),
  ];
  return { sections, failures };
}

async function main(): Promise<void> {
  const started = performance.now();
  const root = await mkdtemp(path.join(os.tmpdir(), 'hv-bench-'));
  await chmod(root, 0o755);
  const pg = await startEmbeddedPostgres({
    dataDir: path.join(root, 'pg'),
    port: await freePort(),
    persistent: false,
  });
  const pool = createPool(pg.url, 16);
  const resultsDir = path.join(projectRoot, 'bench-results');
  await mkdir(resultsDir, { recursive: true });
  const out = path.join(resultsDir, `${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`);
  const samples: Sample[] = [];
  const record = async (sample: Sample) => {
    samples.push(sample);
    await appendFile(out, `${JSON.stringify(sample)}\n`);
  };
  const failures: string[] = [];
  const sections: string[] = [];
  if (runs('domain')) {
    console.error('[bench] (a) the reference domain ops, in-process');
    const domainSamples: DomainSample[] = [];
    const domain = await domainSuite({
      reps: quick ? 3 : 5,
      budgetMs: quick ? 200 : 3000,
      record: async (sample) => {
        domainSamples.push(sample);
        await appendFile(out, `${JSON.stringify(sample)}\n`);
      },
    });
    failures.push(...domain.failures);
    sections.push(...domainSummary(domainSamples, domain.probe));
  }
  try {
    await runMigrations(pg.url);
    await environment(pool, out);
    if (runs('audit')) {
      console.error('[bench] (c) audit append vs raw Postgres, verification');
      failures.push(...(await auditSuites(pool, record)));
    }
    if (['governance', 'pipeline', 'kill', 'scaling', 'soak'].some(runs)) {
      const temporal = await temporalSuites(pg.url, pool, out);
      sections.push(...temporal.sections);
      failures.push(...temporal.failures);
    }
  } finally {
    await pool.end();
    await pg.stop();
    await rm(root, { recursive: true, force: true });
  }

  console.log(summary(samples, failures, out, sections));
  console.log(`\nTotal time: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (failures.length > 0) process.exit(1);
}

/** The environment block, first line of the JSON Lines output. */
async function environment(pool: Pool, out: string): Promise<void> {
  const { rows: env } = await pool.query<{ v: string; sc: string; fs: string }>(
    `SELECT version() AS v, current_setting('synchronous_commit') AS sc, current_setting('wal_sync_method') AS fs`,
  );
  await appendFile(
    out,
    `${JSON.stringify({ environment: { cpu: os.cpus()[0]?.model, nproc: os.cpus().length, node: process.version, postgres: env[0]?.v, synchronousCommit: env[0]?.sc, walSyncMethod: env[0]?.fs, quick } })}\n`,
  );
}

/** Suite (c) and the verification speed; returns the invariant failures. */
async function auditSuites(pool: Pool, record: RecordSample): Promise<string[]> {
  await pool.query(
    'CREATE TABLE bench_raw (LIKE audit_entries INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)',
  );
  const audit = createAuditActivities({ pool });
  const written = new Map<string, number>();
  const appendLinks = async (sessionId: string, entries: ChainedEntry[]) => {
    await audit.appendAuditEntries({ sessionId, entries, checkpoint: false });
    written.set(sessionId, (written.get(sessionId) ?? 0) + entries.length);
    return entries.length;
  };
  await appendSuite(pool, appendLinks, record);
  return [...(await storedOnce(pool, written)), ...(await verifySuite(pool, appendLinks, record))];
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

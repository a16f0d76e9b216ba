import { z } from 'zod';
import { parseKillSwitchConfig } from '../domain/kill-switch.js';
import { parseBootstrapOperator } from '../domain/operators.js';
import { DEFAULT_TASK_QUEUE } from '../workflows/messages.js';
import { DatabaseEnv, parseEnv } from '../store/config.js';

const port = z.coerce.number().int().min(1).max(65535);
/** A yes/no setting: `true`/`false`, or `1`/`0`. */
const flag = (fallback: 'true' | 'false') =>
  z
    .enum(['true', 'false', '1', '0'])
    .default(fallback)
    .transform((value) => value === 'true' || value === '1');

/**
 * The worker's environment, parsed once at start-up so a bad variable stops the worker before it polls. Temporal
 * connection settings (address, namespace, TLS, API key) come from the standard `TEMPORAL_*` variables through
 * `temporalTarget()`.
 */
export const WorkerEnv = DatabaseEnv.extend({
  TEMPORAL_TASK_QUEUE: z.string().min(1).default(DEFAULT_TASK_QUEUE),
  /**
   * The worker's HTTP server: /metrics, /healthz, /readyz. It has no authentication, so bind it where only the
   * scraper and the kubelet reach it (a pod IP behind a NetworkPolicy, or 127.0.0.1 with a sidecar). The default,
   * every interface, suits a pod; a shared host wants 127.0.0.1.
   */
  HV_HTTP_PORT: port.default(9464),
  HV_HTTP_HOST: z
    .union([z.ipv4(), z.ipv6(), z.hostname()], { error: 'HV_HTTP_HOST must be an IP address or a host name' })
    .default('0.0.0.0'),
  /** Loopback port of the Temporal SDK's own Prometheus exporter, merged into /metrics. */
  HV_SDK_METRICS_PORT: port.default(9465),
  HV_LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
  HV_MIGRATE_ON_START: flag('true'),
  /**
   * Workflow runs the worker keeps in memory (its sticky cache, least recently used out). An evicted run costs a replay
   * of its history at its next task, never memory, so this bounds the worker's RSS whatever the number of open
   * sessions (docs/DESIGN.md §1.4): about 0.5 MB per cached run, and each open session is two (its own and its agent's
   * identity). Explicit because the SDK's default grows with the V8 heap limit, not with the machine's memory.
   */
  HV_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(2000),
  /** Graceful shutdown: activities get this long to finish before they are cancelled. */
  HV_SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().min(0).default(25),
  /** Ed25519 private key (PKCS#8 PEM) that signs commitments and checkpoints; or a file holding it. */
  HV_AUDIT_SIGNING_KEY: z.string().optional(),
  HV_AUDIT_SIGNING_KEY_FILE: z.string().optional(),
  /**
   * Ed25519 private key (PKCS#8 PEM) that signs internal messages (kill-switch notices, session registrations and
   * decision reports, saga registrations and hand-offs); or a file holding it. Required: workflows refuse unsigned
   * internal messages. Every worker of a deployment holds the same key.
   */
  HV_INTERNAL_SIGNING_KEY: z.string().optional(),
  HV_INTERNAL_SIGNING_KEY_FILE: z.string().optional(),
  /** Previous internal public keys still accepted during a rotation: raw Ed25519 keys in hex, comma-separated. */
  HV_INTERNAL_ACCEPTED_KEYS: z.string().optional(),
  /**
   * Start even when a private key file (the signing key, the Temporal mTLS key, the Postgres `sslkey`) can be accessed
   * by group or others, with a warning; otherwise the worker refuses to start (`InsecureKeyFileError`).
   */
  HV_ALLOW_INSECURE_KEY_FILE: flag('false'),
  /**
   * Where signed checkpoints go for sessions with `enableBlockchainCommitment`: a directory (JSON Lines per session) or
   * an http(s) URL receiving each checkpoint as a POST. Keep it outside the audit database's trust domain.
   */
  HV_CHECKPOINT_SINK: z.string().min(1).optional(),
  /**
   * Kill-switch configuration for agent identities (JSON, the cMCP keys: enabled, window_seconds,
   * deny_rate_threshold, min_calls). Disabled by default.
   */
  HV_KILL_SWITCH: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (!text) return {};
      try {
        return parseKillSwitchConfig(JSON.parse(text));
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `HV_KILL_SWITCH: ${(err as Error).message}` });
        return z.NEVER;
      }
    }),
  /**
   * The bootstrap admin of the operator registry (docs/DESIGN.md §13): `<did>=<Ed25519 public key, hex>`, as
   * `hv keys show` prints it. Every session and identity workflow trusts it whatever the registry holds; it comes from
   * the worker's configuration because a workflow's start arguments are whatever its starter chose.
   */
  HV_OPERATOR_BOOTSTRAP_KEY: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (!text) return null;
      try {
        return parseBootstrapOperator(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `HV_OPERATOR_BOOTSTRAP_KEY: ${(err as Error).message}` });
        return z.NEVER;
      }
    }),
  /** Base URL for saga steps whose `execute_api` / `undo_api` is a path (e.g. `/infra/provision`). */
  HV_STEP_BASE_URL: z.url().optional(),
  /**
   * Temporal Worker Deployment Versioning (safe rollouts, README "Deploying"). The worker always names its deployment
   * version (this deployment name and the build id of worker/build-info.ts); with versioning on, the server routes
   * tasks only to the version made current with `temporal worker deployment set-current-version`, so a new build
   * takes work when promoted and a rollback is one command. Off by default: tasks go to every worker of the queue.
   */
  HV_WORKER_DEPLOYMENT_NAME: z.string().min(1).default('agent-hypervisor'),
  HV_WORKER_VERSIONING: flag('false'),
  /** Retention (docs/DESIGN.md §5.6): audit payloads older than this are purged; hashes and commitments are kept. */
  HV_AUDIT_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(180),
  /** Keep a daily Temporal Schedule that runs the retention purge. */
  HV_AUDIT_RETENTION_SCHEDULE: flag('true'),
}).superRefine((env, ctx) => {
  // The owner's credentials have no business in a worker that does not migrate (deploy/sql/roles.sql).
  if (env.DATABASE_MIGRATION_URL && !env.HV_MIGRATE_ON_START)
    ctx.addIssue({
      code: 'custom',
      path: ['DATABASE_MIGRATION_URL'],
      message:
        'is only used to migrate at start, and HV_MIGRATE_ON_START is false: remove it from the worker (run `hv db ' +
        'migrate` with it instead) or set HV_MIGRATE_ON_START=true',
    });
});
export type WorkerEnv = z.infer<typeof WorkerEnv>;

/** The worker's environment, or a `ConfigError` listing every bad variable. */
export const loadWorkerEnv = (env: NodeJS.ProcessEnv = process.env): WorkerEnv => parseEnv(WorkerEnv, env);

import { existsSync } from 'node:fs';
import path from 'node:path';
import { devPostgresPort } from '../store/config.js';
import { devAuditPaths, dataDir } from '../store/paths.js';
import { loadWorkerEnv, type WorkerEnv } from './config.js';
import { ensureDevInternalKey, ensureDevSigningKey } from './dev-keys.js';
import {
  DEV_OPERATOR_DID,
  bootstrapValue,
  createOperatorKeyFile,
  devOperatorKeyPath,
  readOperatorKeyFile,
} from '../store/operator-key.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './postgres.js';
import { portInUse } from './processes.js';
import { onShutdownSignal } from './signals.js';
import { resolveTemporalCli, temporalCliVersion } from './temporal-cli.js';
import { startTemporalDevServer, type DevServer } from './temporal-dev-server.js';
import { localHttpUrl } from './http.js';
import { startWorker, type RunningWorker } from './worker.js';
import { startApi, type RunningApi } from '../api/start.js';
import { createApiKey, revokeApiKeysLabelled } from '../store/api-keys.js';
import { createPool } from '../store/db.js';

type Say = (line: string) => void;

/** The Temporal dev server (persistent SQLite, Web UI), unless TEMPORAL_ADDRESS points at one already running. */
async function startTemporal(stateDir: string, say: Say): Promise<DevServer | undefined> {
  const externalTemporal = process.env.TEMPORAL_ADDRESS;
  if (externalTemporal) {
    say(`using the Temporal server at ${externalTemporal} (TEMPORAL_ADDRESS)`);
    return undefined;
  }
  const temporalPort = Number(process.env.HV_TEMPORAL_PORT ?? 7233);
  const uiPort = Number(process.env.HV_TEMPORAL_UI_PORT ?? 8233);
  const cli = await resolveTemporalCli({ log: say });
  if (cli.kind === 'binary') say(`temporal CLI: ${cli.path} (${cli.source}; ${temporalCliVersion(cli.path)})`);
  for (const port of [temporalPort, uiPort]) {
    if (await portInUse(port)) {
      throw new Error(
        `port ${port} is already in use. Stop whatever holds it, or set HV_TEMPORAL_PORT / HV_TEMPORAL_UI_PORT, ` +
          'or point TEMPORAL_ADDRESS at a running Temporal server.',
      );
    }
  }
  say('starting the Temporal dev server…');
  const server = await startTemporalDevServer({
    cli,
    port: temporalPort,
    uiPort,
    dbFilename: path.join(stateDir, 'temporal', 'dev.db'),
    stateDir: path.join(stateDir, 'temporal'),
    detached: true,
    log: say,
  });
  process.env.TEMPORAL_ADDRESS = server.address;
  return server;
}

/** The embedded PostgreSQL (persistent data directory), unless DATABASE_URL points at one. */
async function startPostgres(stateDir: string, say: Say): Promise<EmbeddedPostgres | undefined> {
  if (process.env.DATABASE_URL) {
    say('using the PostgreSQL at DATABASE_URL');
    return undefined;
  }
  say('starting the embedded PostgreSQL…');
  const postgres = await startEmbeddedPostgres({
    dataDir: path.join(stateDir, 'postgres', 'data'),
    port: devPostgresPort(),
    persistent: true,
    detached: true,
    log: say,
  });
  process.env.DATABASE_URL = postgres.url;
  return postgres;
}

/** A dev audit signing key (generated once) and the dev checkpoint directory, unless configured. */
async function useDevAuditKeys(say: Say): Promise<void> {
  if (!process.env.HV_AUDIT_SIGNING_KEY && !process.env.HV_AUDIT_SIGNING_KEY_FILE) {
    const key = await ensureDevSigningKey();
    say(`${key.created ? 'generated' : 'using'} the dev audit signing key ${key.privateKey}`);
    if (key.tightenedFrom !== undefined)
      say(`made it owner-only (chmod 600): it had mode ${key.tightenedFrom.toString(8).padStart(4, '0')}`);
    process.env.HV_AUDIT_SIGNING_KEY_FILE = key.privateKey;
  }
  process.env.HV_CHECKPOINT_SINK ??= devAuditPaths().checkpoints;
  if (!process.env.HV_INTERNAL_SIGNING_KEY && !process.env.HV_INTERNAL_SIGNING_KEY_FILE) {
    const key = await ensureDevInternalKey();
    say(`${key.created ? 'generated' : 'using'} the dev internal signing key ${key.file}`);
    if (key.tightenedFrom !== undefined)
      say(`made it owner-only (chmod 600): it had mode ${key.tightenedFrom.toString(8).padStart(4, '0')}`);
    process.env.HV_INTERNAL_SIGNING_KEY_FILE = key.file;
  }
  await useDevOperatorKey(say);
}

const DEV_KEY_LABEL = 'npm run dev';
const DEV_AGENT_DID = 'did:mesh:dev-agent';

/** Fresh dev API keys each run (the previous run's are revoked): keys are shown once, so they are printed here. */
async function createDevApiKeys(databaseUrl: string): Promise<{ agent: string; operator: string }> {
  const pool = createPool(databaseUrl, 1);
  try {
    await revokeApiKeysLabelled(pool, DEV_KEY_LABEL);
    const agent = await createApiKey(pool, { agentDid: DEV_AGENT_DID, role: 'agent', label: DEV_KEY_LABEL });
    const operator = await createApiKey(pool, { agentDid: DEV_OPERATOR_DID, role: 'operator', label: DEV_KEY_LABEL });
    return { agent: agent.key, operator: operator.key };
  } finally {
    await pool.end();
  }
}

/**
 * A dev operator key (generated once, `did:mesh:operator`), bootstrapped as the registry's admin; `hv` signs with it
 * by default in dev, so the README walk-through needs no key setup.
 */
async function useDevOperatorKey(say: Say): Promise<void> {
  if (process.env.HV_OPERATOR_BOOTSTRAP_KEY) return;
  const file = devOperatorKeyPath();
  const created = !existsSync(file);
  const key = created ? await createOperatorKeyFile(file, DEV_OPERATOR_DID) : await readOperatorKeyFile(file);
  say(`${created ? 'generated' : 'using'} the dev operator key ${file} (${key.did}, ${key.kid})`);
  process.env.HV_OPERATOR_BOOTSTRAP_KEY = bootstrapValue(key);
}

function banner(
  env: WorkerEnv,
  server: DevServer | undefined,
  postgres: EmbeddedPostgres | undefined,
  stateDir: string,
  api: { url: string; keys: { agent: string; operator: string } },
) {
  return [
    '',
    'Agent Hypervisor is running.',
    `  Temporal Web UI   ${server?.uiUrl ?? '(external server)'}`,
    `  Temporal address  ${process.env.TEMPORAL_ADDRESS}  (namespace ${process.env.TEMPORAL_NAMESPACE ?? 'default'})`,
    `  PostgreSQL        ${postgres ? postgres.url : '(DATABASE_URL)'}`,
    `  Worker            task queue ${env.TEMPORAL_TASK_QUEUE}; ${localHttpUrl(env.HV_HTTP_HOST, env.HV_HTTP_PORT)}/metrics /healthz /readyz (no auth, bound to ${env.HV_HTTP_HOST})`,
    `  Operator          ${env.HV_OPERATOR_BOOTSTRAP_KEY ? `${env.HV_OPERATOR_BOOTSTRAP_KEY.did} (${env.HV_OPERATOR_BOOTSTRAP_KEY.keys[0]?.kid}), bootstrap admin; hv signs with ${devOperatorKeyPath()}` : 'none (HV_OPERATOR_BOOTSTRAP_KEY)'}`,
    `  Audit             signed by ${env.HV_AUDIT_SIGNING_KEY_FILE ?? 'HV_AUDIT_SIGNING_KEY'}; checkpoints to ${env.HV_CHECKPOINT_SINK}`,
    `  HTTP API          ${api.url}  (OpenAPI ${api.url}/openapi.json, docs ${api.url}/docs)`,
    `    dev agent key     ${api.keys.agent}  (acts as ${DEV_AGENT_DID})`,
    `    dev operator key  ${api.keys.operator}  (acts as ${DEV_OPERATOR_DID})`,
    `  State             ${stateDir}`,
    '',
    'Press Ctrl-C to stop everything.',
    '',
  ].join('\n');
}

/**
 * `npm run dev`: the whole hypervisor on one machine. Starts the Temporal dev server, an embedded PostgreSQL and the
 * worker. Ctrl-C stops them in reverse order; a second run reuses the state in `.data/`.
 */
async function dev(): Promise<void> {
  const say: Say = (line) => console.log(`[dev] ${line}`);
  const stateDir = dataDir();
  let server: DevServer | undefined;
  let postgres: EmbeddedPostgres | undefined;
  let worker: RunningWorker | undefined;
  let api: RunningApi | undefined;

  const stopAll = async () => {
    if (api) {
      say('stopping the HTTP API…');
      await api.close();
    }
    if (worker) {
      say('stopping the worker (draining in-flight tasks)…');
      await worker.shutdown();
    }
    if (server) {
      say('stopping the Temporal dev server…');
      await server.stop();
    }
    if (postgres) {
      say('stopping PostgreSQL…');
      await postgres.stop();
    }
    say('stopped. State kept in ' + stateDir);
  };
  onShutdownSignal(async () => {
    console.log('');
    await stopAll();
  });

  try {
    server = await startTemporal(stateDir, say);
    postgres = await startPostgres(stateDir, say);
    await useDevAuditKeys(say);
    const env = loadWorkerEnv();
    worker = await startWorker(env, say);
    const keys = await createDevApiKeys(env.DATABASE_URL);
    // The API listens on loopback in dev unless HV_API_HOST says otherwise: its keys are printed in this terminal.
    api = await startApi({ HV_API_HOST: '127.0.0.1', ...process.env }, false);
    console.log(banner(env, server, postgres, stateDir, { url: api.url, keys }));
    await worker.done;
  } catch (err) {
    console.error(`[dev] ${(err as Error).message}`);
    await stopAll().catch(() => undefined);
    process.exit(1);
  }
}

void dev();

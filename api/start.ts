import { HypervisorClient } from '../client/hypervisor-client.js';
import { createPool } from '../store/db.js';
import { apiConfigFrom, loadApiEnv } from './config.js';
import { buildApiServer } from './server.js';

export interface RunningApi {
  url: string;
  close(): Promise<void>;
}

/**
 * Starts the API server from the environment (api/config.ts): one Temporal connection, one small Postgres pool (API
 * keys, audit reads, the ledger), listening on HV_API_HOST:HV_API_PORT.
 */
export async function startApi(env: NodeJS.ProcessEnv = process.env, logger = true): Promise<RunningApi> {
  const parsed = loadApiEnv(env);
  const config = apiConfigFrom(parsed);
  const hv = await HypervisorClient.connect({ env, taskQueue: config.taskQueue });
  const pool = createPool(parsed.DATABASE_URL, 5);
  const app = await buildApiServer({ hv, pool, config, logger });
  await app.listen({ port: parsed.HV_API_PORT, host: parsed.HV_API_HOST });
  const host = parsed.HV_API_HOST === '0.0.0.0' || parsed.HV_API_HOST === '::' ? '127.0.0.1' : parsed.HV_API_HOST;
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : parsed.HV_API_PORT;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    async close() {
      await app.close();
      await pool.end();
      await hv.close();
    },
  };
}

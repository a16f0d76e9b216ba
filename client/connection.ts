import { loadClientConfigProfile, loadClientConnectConfig } from '@temporalio/envconfig';

const definedVars = (env: NodeJS.ProcessEnv): Record<string, string> =>
  Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));

export interface TemporalTarget {
  address: string;
  namespace: string;
  /** TLS, API key and gRPC metadata from the standard `TEMPORAL_*` variables or the Temporal config file. */
  connectionOptions: ReturnType<typeof loadClientConnectConfig>['connectionOptions'];
}

/**
 * Reads the Temporal connection from the standard `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`,
 * `TEMPORAL_TLS_*` variables (and `temporal.toml` profiles), defaulting to the local dev server.
 */
export function temporalTarget(env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  const config = loadClientConnectConfig({ overrideEnvVars: definedVars(env) });
  const address = config.connectionOptions.address ?? 'localhost:7233';
  return {
    address,
    namespace: config.namespace ?? 'default',
    connectionOptions: { ...config.connectionOptions, address },
  };
}

/**
 * The mTLS client key file the Temporal connection will read (`TEMPORAL_TLS_CLIENT_KEY_PATH` or the profile's
 * `client_key_path`), with the setting that names it; null when the key is inline or there is none. Read without
 * opening any file, so the worker can check the key's permissions before the SDK loads it.
 */
export function temporalClientKeyFile(env: NodeJS.ProcessEnv = process.env): { source: string; file: string } | null {
  const key = loadClientConfigProfile({ overrideEnvVars: definedVars(env) }).tls?.clientKey;
  if (!key || !('path' in key)) return null;
  const source = env.TEMPORAL_TLS_CLIENT_KEY_PATH ? 'TEMPORAL_TLS_CLIENT_KEY_PATH' : 'Temporal profile client_key_path';
  return { source, file: key.path };
}

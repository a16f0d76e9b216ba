import { loadClientConnectConfig } from '@temporalio/envconfig';

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
  const overrideEnvVars = Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  const config = loadClientConnectConfig({ overrideEnvVars });
  const address = config.connectionOptions.address ?? 'localhost:7233';
  return {
    address,
    namespace: config.namespace ?? 'default',
    connectionOptions: { ...config.connectionOptions, address },
  };
}

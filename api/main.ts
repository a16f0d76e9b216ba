import { startApi } from './start.js';

/** `npm run api`: the HTTP API alone, against the Temporal server and Postgres of the environment (api/config.ts). */
async function main(): Promise<void> {
  const api = await startApi();
  console.log(`[api] listening on ${api.url} (OpenAPI ${api.url}/openapi.json, docs ${api.url}/docs)`);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    console.log(`[api] ${signal}: closing`);
    api.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`[api] ${(err as Error).message}`);
  process.exit(1);
});

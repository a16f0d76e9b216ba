import { cachedCliPath, resolveTemporalCli, temporalCliVersion } from './temporal-cli.js';

/**
 * `npm run temporal:provision`: makes sure a temporal CLI is available, building it with Go into the cache if needed.
 * `npm test` and `.ci/run` call it first so a first-time build shows its progress instead of hiding in a test hook.
 */
async function main(): Promise<void> {
  const quiet = process.argv.includes('--quiet');
  const cli = await resolveTemporalCli({ log: (line) => console.log(`[temporal] ${line}`) });
  if (cli.kind === 'binary') {
    if (!quiet || cli.source === 'go install') {
      console.log(`[temporal] ${cli.path} (${cli.source}): ${temporalCliVersion(cli.path)}`);
    }
  } else {
    console.log(`[temporal] no local CLI (looked for ${cachedCliPath()}); the SDK download will be used.`);
  }
}

main().catch((err: unknown) => {
  console.error(`[temporal] ${(err as Error).message}`);
  process.exit(1);
});

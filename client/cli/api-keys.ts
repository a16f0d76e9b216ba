import { Option, type Command } from 'commander';
import { AgentDid } from '../../domain/identifiers.js';
import { ErrorType } from '../../domain/errors.js';
import { parseInput } from '../../domain/validation.js';
import { createApiKey, listApiKeys, revokeApiKey, type ApiKeyRecord, type ApiKeyRole } from '../../store/api-keys.js';
import { HypervisorError, guard } from '../errors.js';
import { withPool } from './common.js';
import { c, emit, table, when } from './output.js';

const formatKeys = (keys: ApiKeyRecord[]): string =>
  keys.length === 0
    ? 'no API keys'
    : table(
        ['id', 'did', 'role', 'label', 'created', 'revoked'],
        keys.map((k) => [
          k.keyId,
          k.agentDid,
          k.role,
          k.label,
          when(k.createdAtMs),
          k.revokedAtMs ? when(k.revokedAtMs) : '',
        ]),
      );

/**
 * `hv api-keys …`: the credentials of the HTTP API (api/, DESIGN §15.2), stored as SHA-256 hashes in Postgres. Each
 * key acts as one DID, as an agent or an operator. Not `hv keys`, which manages operator signing keys.
 */
export function registerApiKeyCommands(program: Command): void {
  const keys = program.command('api-keys').description('API keys of the HTTP API: one DID each, agent or operator');
  keys
    .command('create')
    .description('create a key acting as --did; the key is printed once and cannot be shown again')
    .requiredOption('--did <did>', 'the DID the key acts as (the API fills the acting DID from it)')
    .addOption(
      new Option('--role <role>', 'agent, or operator (control commands)')
        .choices(['agent', 'operator'])
        .default('agent'),
    )
    .option('--label <text>', 'what the key is for', '')
    .action((o: { did: string; role: ApiKeyRole; label: string }) =>
      withPool(async (pool) => {
        const agentDid = guard(() => parseInput(AgentDid, o.did, '--did'));
        const created = await createApiKey(pool, { agentDid, role: o.role, label: o.label });
        emit(created, (k) =>
          [
            `API key ${k.keyId} for ${k.agentDid} (${k.role}):`,
            `  ${k.key}`,
            c.dim('shown once: store it now (only its SHA-256 is kept). Use it as Authorization: Bearer <key>.'),
          ].join('\n'),
        );
      }),
    );
  keys
    .command('list')
    .description('keys, newest first (revoked ones say when)')
    .option('--did <did>', 'only the keys of this DID')
    .action((o: { did?: string }) =>
      withPool(async (pool) => emit(await listApiKeys(pool, { agentDid: o.did }), formatKeys)),
    );
  keys
    .command('revoke <keyId>')
    .description('revoke a key: the API refuses it from the next request on')
    .action((keyId: string) =>
      withPool(async (pool) => {
        if (!(await revokeApiKey(pool, keyId)))
          throw new HypervisorError(ErrorType.NotFound, `no live API key ${keyId}`, { keyId });
        emit({ keyId, revoked: true }, () => `revoked ${keyId}`);
      }),
    );
}

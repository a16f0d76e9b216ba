import type { Command, Option as OptionType } from 'commander';
import { Option } from 'commander';
import { ErrorType } from '../../domain/errors.js';
import { HypervisorError } from '../errors.js';
import { withClient } from './common.js';
import { emit } from './output.js';

const fileOption = (): OptionType =>
  new Option('--file <path>', 'the key file (default: HV_OPERATOR_KEY, else the dev key)');

/** The key file code (zod, Ed25519) loads with the command that needs it: `hv --help` stays fast. */
const keyFiles = () => import('../../store/operator-key.js');

async function keyFile(file: string | undefined): Promise<string> {
  const found = file ?? (await keyFiles()).operatorKeyPath();
  if (!found)
    throw new HypervisorError(ErrorType.NotFound, 'no operator key: set HV_OPERATOR_KEY or run `hv keys create`');
  return found;
}

/** `hv keys …` (the operator's own signing key) and `hv operators …` (the namespace's operator registry). */
export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('your operator signing key (signs kill, quarantine, terminate…)');
  keys
    .command('create')
    .description('write a new Ed25519 operator key file (owner-only) and print its DID, kid and public key')
    .requiredOption('--did <did>', 'the operator DID the key signs for')
    .addOption(
      new Option('--file <path>', 'where to write it (default: HV_OPERATOR_KEY, else .data/operator-key.json)'),
    )
    .action(async (o: { did: string; file?: string }) => {
      const { bootstrapValue, createOperatorKeyFile, devOperatorKeyPath } = await keyFiles();
      const file = o.file ?? process.env.HV_OPERATOR_KEY ?? devOperatorKeyPath();
      const key = await createOperatorKeyFile(file, o.did);
      emit({ file, did: key.did, kid: key.kid, publicKey: key.publicKey, bootstrap: bootstrapValue(key) });
    });
  keys
    .command('show')
    .description('the DID, kid and public key of the key file `hv` signs with')
    .addOption(fileOption())
    .action(async (o: { file?: string }) => {
      const { bootstrapValue, readOperatorKeyFile } = await keyFiles();
      const file = await keyFile(o.file);
      const key = await readOperatorKeyFile(file);
      emit({ file, did: key.did, kid: key.kid, publicKey: key.publicKey, bootstrap: bootstrapValue(key) });
    });
  keys
    .command('sign <command> <workflowId> [json]')
    .description(
      'sign a control command body (JSON argument or stdin) for someone else to send, e.g. to the HTTP API: prints ' +
        'the body with your DID as its actor, its defaults filled in, and `auth`',
    )
    .addOption(fileOption())
    .action(async (command: string, workflowId: string, json: string | undefined, o: { file?: string }) => {
      const [{ readOperatorKeyFile, signerOf }, { isSignableCommand, signBody, SIGNABLE_COMMANDS }] = await Promise.all(
        [keyFiles(), import('../signed-bodies.js')],
      );
      if (!isSignableCommand(command))
        throw new HypervisorError(
          ErrorType.InvalidInput,
          `cannot sign ${command}: one of ${Object.keys(SIGNABLE_COMMANDS).join(', ')}`,
        );
      const text = json ?? (await readStdin());
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new HypervisorError(ErrorType.InvalidInput, 'the body must be a JSON object');
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw new HypervisorError(ErrorType.InvalidInput, 'the body must be a JSON object');
      const signer = signerOf(await readOperatorKeyFile(await keyFile(o.file)));
      process.stdout.write(
        `${JSON.stringify(signBody(signer, command, workflowId, body as Record<string, unknown>, { strict: true }))}\n`,
      );
    });

  const operators = program.command('operators').description('the operator registry (signed by your key)');
  operators
    .command('register')
    .description('register a key: a new operator (admins), or a rotation of your own key')
    .requiredOption('--did <did>')
    .requiredOption('--public-key <hex>', 'the Ed25519 public key, as `hv keys show` prints it')
    .addOption(new Option('--role <role>', 'only admins may set it').choices(['admin', 'operator']))
    .action((o: { did: string; publicKey: string; role?: 'admin' | 'operator' }) =>
      withClient(async (hv) =>
        emit(await hv.operatorRegistry().register({ did: o.did, publicKey: o.publicKey, role: o.role })),
      ),
    );
  operators
    .command('revoke <kid>')
    .description('revoke a key from now on (admins, or the key’s own operator)')
    .action((kid: string) => withClient(async (hv) => emit(await hv.operatorRegistry().revoke(kid))));
  operators
    .command('list')
    .description('every operator, its role and keys')
    .action(() => withClient(async (hv) => emit(await hv.operatorRegistry().directory())));
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

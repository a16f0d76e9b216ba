import type { Command, Option as OptionType } from 'commander';
import { Option } from 'commander';
import { ErrorType } from '../../domain/errors.js';
import {
  bootstrapValue,
  createOperatorKeyFile,
  devOperatorKeyPath,
  operatorKeyPath,
  readOperatorKeyFile,
} from '../../store/operator-key.js';
import { HypervisorError } from '../errors.js';
import { withClient } from './common.js';
import { emit } from './output.js';

const fileOption = (): OptionType =>
  new Option('--file <path>', 'the key file (default: HV_OPERATOR_KEY, else the dev key)');

function keyFile(file: string | undefined): string {
  const found = file ?? operatorKeyPath();
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
      const file = o.file ?? process.env.HV_OPERATOR_KEY ?? devOperatorKeyPath();
      const key = await createOperatorKeyFile(file, o.did);
      emit({ file, did: key.did, kid: key.kid, publicKey: key.publicKey, bootstrap: bootstrapValue(key) });
    });
  keys
    .command('show')
    .description('the DID, kid and public key of the key file `hv` signs with')
    .addOption(fileOption())
    .action(async (o: { file?: string }) => {
      const file = keyFile(o.file);
      const key = await readOperatorKeyFile(file);
      emit({ file, did: key.did, kid: key.kid, publicKey: key.publicKey, bootstrap: bootstrapValue(key) });
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

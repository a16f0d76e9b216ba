import { Command, Option } from 'commander';
import { registerAgentCommands } from './cli/agent.js';
import { registerApiKeyCommands } from './cli/api-keys.js';
import { registerAuditCommands } from './cli/audit.js';
import { registerControlCommands } from './cli/control.js';
import { describeError, errorJson } from './cli/errors.js';
import { registerKeyCommands } from './cli/keys.js';
import { isJsonMode, printJson, setJsonMode } from './cli/output.js';
import { registerSagaCommands } from './cli/saga.js';
import { registerSessionCommands } from './cli/session.js';
import { registerStateCommands } from './cli/state.js';

/**
 * The `hv` entry: global output options, one `register…Commands` per area (client/cli/*.ts), one error rendering.
 * Commands print a human summary unless `--json` / `-o json` asks for the exact objects.
 */
const program = new Command('hv')
  .description('Agent Hypervisor CLI: sessions, rings, elevation, kills, shared state and locks over Temporal.')
  .option('--json', 'print the exact data as JSON (for scripts)')
  .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) })
  .hook('preAction', (_root, action) => {
    const o = action.optsWithGlobals<{ json?: boolean; output?: string }>();
    setJsonMode(o.json === true || o.output === 'json');
  });

registerSessionCommands(program);
registerControlCommands(program);
registerStateCommands(program);
registerAgentCommands(program);
registerSagaCommands(program);
registerAuditCommands(program);
registerApiKeyCommands(program);
registerKeyCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const { line, exitCode } = describeError(err);
  if (isJsonMode()) printJson(errorJson(err));
  console.error(line);
  process.exit(exitCode);
});

import type { Command } from 'commander';
import { ErrorType } from '../../domain/errors.js';
import { HypervisorError } from '../errors.js';
import { EXIT_DENIED, withClient, withPool } from './common.js';
import { formatSaga } from './format.js';
import { emit } from './output.js';

// Loaded on use: the saga DSL (YAML, the workflow messages) and the checkpoint store (pg) would slow every start.
const sagaFiles = () => import('../saga.js');
const checkpoints = () => import('../../store/saga.js');

/** `hv saga …`: validate, start, follow, resume, cancel, checkpoints. */
export function registerSagaCommands(program: Command): void {
  const saga = program.command('saga').description('sagas: validate, start, follow, resume, checkpoints');
  saga
    .command('validate <file>')
    .description('check a saga definition (YAML or JSON); lists every error with its path, exit 2 when invalid')
    .action(async (file: string) => {
      const { readSagaDefinitionFile, validateSaga } = await sagaFiles();
      const issues = validateSaga(await readSagaDefinitionFile(file));
      emit({ file, valid: issues.length === 0, issues }, (r) =>
        r.valid ? `${file}: valid` : r.issues.map((issue) => `${file}: ${issue.path}: ${issue.message}`).join('\n'),
      );
      if (issues.length > 0) process.exitCode = 2;
    });
  saga
    .command('start <file>')
    .description('start the saga in a definition file')
    .option('--id <sagaId>', 'saga id (default: saga_id from the file, else a random UUID)')
    .option('--agent-queue <did=queue...>', "route an agent's steps to its own task queue")
    .option('--wait', 'wait for the saga to end and print its final state')
    .action(async (file: string, o: { id?: string; agentQueue?: string[]; wait?: boolean }) => {
      const definition = await (await sagaFiles()).readSagaDefinitionFile(file);
      const agentTaskQueues = Object.fromEntries(
        (o.agentQueue ?? []).map((pair) => {
          const at = pair.indexOf('=');
          if (at <= 0)
            throw new HypervisorError(ErrorType.InvalidInput, `--agent-queue expects did=queue, got ${pair}`);
          return [pair.slice(0, at), pair.slice(at + 1)];
        }),
      );
      await withClient(async (hv) => {
        const handle = await hv.startSaga(definition, { sagaId: o.id, options: { agentTaskQueues } });
        if (!o.wait) return emit({ sagaId: handle.sagaId, workflowId: handle.workflow.workflowId });
        const view = await handle.result();
        emit(view, formatSaga);
        if (view.status !== 'completed') process.exitCode = EXIT_DENIED;
      });
    });
  saga
    .command('show <sagaId>')
    .description('progress of a running saga, or the final state of an ended one')
    .action((id: string) => withClient(async (hv) => emit(await hv.saga(id).progress(), formatSaga)));
  saga
    .command('resume <sagaId>')
    .description('run an ended saga again; steps with an achieved checkpoint goal are skipped')
    .option('--wait', 'wait for the saga to end')
    .action((id: string, o: { wait?: boolean }) =>
      withClient(async (hv) => {
        const handle = await hv.resumeSaga(id);
        if (o.wait) emit(await handle.result(), formatSaga);
        else emit({ sagaId: id, resumed: true });
      }),
    );
  saga
    .command('cancel <sagaId>')
    .description('cancel a running saga: its committed steps are compensated')
    .action((id: string) =>
      withClient(async (hv) => {
        await hv.saga(id).cancel();
        emit({ sagaId: id, cancelRequested: true });
      }),
    );
  saga
    .command('checkpoints <sagaId>')
    .description("the saga's checkpoints in Postgres")
    .action((id: string) => withPool(async (pool) => emit(await (await checkpoints()).listCheckpoints(pool, id))));
  saga
    .command('invalidate <sagaId>')
    .description('invalidate checkpoints so a resume runs those steps again')
    .option('--step <stepId>', 'only this step')
    .option('--by <who>', 'recorded as the invalidator', 'operator')
    .action((id: string, o: { step?: string; by: string }) =>
      withPool(async (pool) =>
        emit({
          invalidated: await (
            await checkpoints()
          ).invalidateCheckpoints(pool, { sagaId: id, stepId: o.step, by: o.by }),
        }),
      ),
    );
}

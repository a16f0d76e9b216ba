import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { parse as parseYaml } from 'yaml';
import { ErrorType } from '../domain/errors.js';
import { parseSagaDefinition, validateSagaDefinition, type SagaDefinitionIssue } from '../domain/saga-dsl.js';
import { SagaRunOptions, type SagaView } from '../domain/saga-types.js';
import { HvSagaStatus, HvSessionId } from '../domain/search-attributes.js';
import { parseInput } from '../domain/validation.js';
import * as msg from '../workflows/messages.js';
import type { sagaWorkflow, SagaWorkflowInput } from '../workflows/saga/workflow.js';
import { HypervisorError, guard, toHypervisorError } from './errors.js';

/** Reads a saga definition file: YAML (`.yaml`, `.yml`) or JSON, as in the reference README. */
export async function readSagaDefinitionFile(file: string): Promise<unknown> {
  const text = await readFile(file, 'utf8');
  try {
    return /\.json$/i.test(file) ? (JSON.parse(text) as unknown) : (parseYaml(text) as unknown);
  } catch (err) {
    throw new HypervisorError(
      ErrorType.SagaDefinitionInvalid,
      `${file} is not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${(err as Error).message}`,
    );
  }
}

/** Every problem of a definition, with its path; empty when it is valid. */
export const validateSaga = (definition: unknown): SagaDefinitionIssue[] => validateSagaDefinition(definition);

export interface StartSagaOptions {
  sagaId?: string;
  taskQueue: string;
  options?: Partial<SagaRunOptions>;
}

/** Starts `sagaWorkflow` directly with the Temporal client (id `saga:<sagaId>`). The definition is validated first. */
export async function startSaga(temporal: Client, definition: unknown, opts: StartSagaOptions): Promise<SagaHandle> {
  const parsed = guard(() => parseSagaDefinition(definition));
  const options = guard(() => parseInput(SagaRunOptions, opts.options ?? {}, 'saga options'));
  const sagaId = opts.sagaId ?? parsed.saga_id ?? randomUUID();
  const input: SagaWorkflowInput = { sagaId, definition: definition as SagaWorkflowInput['definition'], options };
  await temporal.workflow
    .start<typeof sagaWorkflow>(msg.SAGA_WORKFLOW_TYPE, {
      taskQueue: opts.taskQueue,
      workflowId: msg.sagaWorkflowId(sagaId),
      args: [input],
      typedSearchAttributes: [
        { key: HvSagaStatus, value: 'running' },
        { key: HvSessionId, value: parsed.session_id },
      ],
      staticSummary: `saga ${parsed.name} in session ${parsed.session_id}`,
    })
    .catch((err: unknown) => {
      throw toHypervisorError(err);
    });
  return new SagaHandle(sagaId, temporal.workflow.getHandle(msg.sagaWorkflowId(sagaId)));
}

/**
 * Runs a saga again under the same id with the definition and options of its last run. Steps whose checkpoint goal
 * was achieved (and not invalidated since) are skipped without re-running their effects.
 */
export async function resumeSaga(temporal: Client, sagaId: string, taskQueue: string): Promise<SagaHandle> {
  const handle = temporal.workflow.getHandle(msg.sagaWorkflowId(sagaId));
  const described = await handle.describe().catch((err: unknown) => {
    throw toHypervisorError(err);
  });
  if (described.status.name === 'RUNNING')
    throw new HypervisorError(ErrorType.IllegalTransition, `saga ${sagaId} is still running`, { sagaId });
  const history = await handle.fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = started?.input?.payloads?.[0];
  if (!payload?.data) throw new HypervisorError(ErrorType.NotFound, `no start input recorded for saga ${sagaId}`);
  const input = JSON.parse(Buffer.from(payload.data).toString('utf8')) as SagaWorkflowInput;
  await temporal.workflow
    .start<typeof sagaWorkflow>(msg.SAGA_WORKFLOW_TYPE, {
      taskQueue,
      workflowId: msg.sagaWorkflowId(sagaId),
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      args: [input],
      staticSummary: `saga ${sagaId} resumed`,
    })
    .catch((err: unknown) => {
      throw toHypervisorError(err);
    });
  return new SagaHandle(sagaId, handle);
}

export class SagaHandle {
  constructor(
    readonly sagaId: string,
    readonly workflow: WorkflowHandle<typeof sagaWorkflow>,
  ) {}

  /** The saga's live progress (steps, states, errors). */
  async progress(): Promise<SagaView> {
    try {
      return await this.workflow.query(msg.getSagaProgressQuery);
    } catch (err) {
      throw toHypervisorError(err);
    }
  }

  /** Waits for the saga to end: status `completed`, `compensated`, `escalated` or `failed`. */
  async result(): Promise<SagaView> {
    try {
      return await this.workflow.result();
    } catch (err) {
      throw toHypervisorError(err);
    }
  }

  /** Cancels the saga: the running step is cancelled and committed steps are compensated. */
  async cancel(): Promise<void> {
    await this.workflow.cancel();
  }
}

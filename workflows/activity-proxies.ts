import * as wf from '@temporalio/workflow';
import { byRunVersion } from './stable-tasks.js';
import type { Activities } from '../activities/index.js';
import { ErrorType } from '../domain/errors.js';
import type { SagaStepDefinition } from '../domain/saga-dsl.js';
import { StepRejectedType, type SagaRunOptions } from '../domain/saga-types.js';

/**
 * Audit persistence. Transient failures (database down) retry without limit, backing off to 30 s: an accepted entry
 * is never dropped. A conflicting chain or a malformed batch cannot succeed on retry.
 */
export const audit = wf.proxyActivities<Pick<Activities, 'appendAuditEntries' | 'commitSessionAudit'>>({
  startToCloseTimeout: '10s',
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    nonRetryableErrorTypes: [ErrorType.ChainBroken, ErrorType.InvalidInput],
  },
});

export const retention = wf.proxyActivities<Pick<Activities, 'purgeAuditPayloads'>>({
  startToCloseTimeout: '10m',
  retry: { initialInterval: '5s', maximumInterval: '5m', nonRetryableErrorTypes: [ErrorType.InvalidInput] },
});

/** Saga bookkeeping: authorization with the session, checkpoints, escalation. Business rejections are non-retryable. */
export const sagaControl = wf.proxyActivities<
  Pick<
    Activities,
    | 'authorizeSagaStep'
    | 'findCheckpoint'
    | 'saveCheckpoint'
    | 'invalidateCheckpoints'
    | 'escalateSaga'
    | 'handOffAgentSteps'
    | 'registerSagaWithSession'
  >
>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
});

/**
 * The executor of one step, with the step's own limits: `timeout` per attempt, `retries` + 1 attempts backing off
 * exponentially, a heartbeat timeout so a dead worker is noticed, routed to the agent's task queue when it has one.
 * Compensations get their own attempt budget. TRY_CANCEL: a cancelled step never blocks the saga on a dead agent.
 */
export function stepActivity(
  step: SagaStepDefinition,
  options: SagaRunOptions,
  mode: 'execute' | 'undo',
  agentDid: string = step.agent,
) {
  const taskQueue = options.agentTaskQueues[agentDid];
  return wf.proxyActivities<Pick<Activities, 'runSagaStep'>>({
    ...(taskQueue ? { taskQueue } : {}),
    startToCloseTimeout: `${step.timeout}s`,
    heartbeatTimeout: Math.min(options.heartbeatTimeoutMs, step.timeout * 1000),
    cancellationType: wf.ActivityCancellationType.TRY_CANCEL,
    summary: `${mode} ${step.id} (${step.action_id}) by ${agentDid}`,
    retry: {
      maximumAttempts: mode === 'execute' ? step.retries + 1 : options.compensationAttempts,
      initialInterval: options.retryInitialIntervalMs,
      backoffCoefficient: 2,
      maximumInterval: Math.max(options.retryInitialIntervalMs, 60_000),
      nonRetryableErrorTypes: [StepRejectedType],
    },
  });
}

/** Postgres bookkeeping the session and identity workflows wait for: retried until the database is back; bad input never. */
const ledgerOptions: wf.ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    nonRetryableErrorTypes: [ErrorType.InvalidInput],
  },
};

/** Joint liability in Postgres: standing at join, bonds, slashes, attributions. */
export const liability =
  wf.proxyActivities<
    Pick<Activities, 'recordVouch' | 'releaseSessionBonds' | 'slashAgent' | 'attributeSagaFault' | 'appendLedgerEntry'>
  >(ledgerOptions);

/** Kill-switch admission and the durable block mirror. */
export const killSwitch = wf.proxyActivities<Pick<Activities, 'admitAgent' | 'mirrorKillSwitchBlock'>>(ledgerOptions);

const internalKeysOptions = {
  startToCloseTimeout: '10s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' },
};

/**
 * The internal key's public half and its signatures (activities/internal.ts), answered by a worker that holds the key.
 * Regular activities in runs since `hv-stable-tasks`, local ones (markers) before it (see `stable-tasks.ts`).
 */
export const internalKeys = byRunVersion(
  wf.proxyLocalActivities<Pick<Activities, 'internalTrustAnchors' | 'signInternalMessages'>>(internalKeysOptions),
  wf.proxyActivities<Pick<Activities, 'internalTrustAnchors' | 'signInternalMessages'>>(internalKeysOptions),
);

const directoryOptions = {
  startToCloseTimeout: '10s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '5s' },
};

/**
 * The operator directory, read at each run's start (and on `refreshOperatorKeys`): short and retried, since an update
 * validator refuses signed commands until it has landed. Regular or local by run, like {@link internalKeys}.
 */
export const operatorDirectory = byRunVersion(
  wf.proxyLocalActivities<Pick<Activities, 'loadOperatorDirectory'>>(directoryOptions),
  wf.proxyActivities<Pick<Activities, 'loadOperatorDirectory'>>(directoryOptions),
);

/** The registry's Postgres mirror. */
export const operatorMirror = wf.proxyActivities<Pick<Activities, 'mirrorOperatorDirectory'>>(ledgerOptions);

const admissionOptions = {
  startToCloseTimeout: '10s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '30s' },
};

/**
 * A new session's check of its creator's kill switch (the Postgres mirror), retried while the database is down (the
 * session waits, failing closed). Regular or local by run, like {@link internalKeys}.
 */
export const creatorAdmission = byRunVersion(
  wf.proxyLocalActivities<Pick<Activities, 'findKillSwitchBlock'>>(admissionOptions),
  wf.proxyActivities<Pick<Activities, 'findKillSwitchBlock'>>(admissionOptions),
);

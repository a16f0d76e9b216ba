import * as wf from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { ErrorType } from '../domain/errors.js';

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

import { Client, Connection, ScheduleAlreadyRunning, type ConnectionOptions } from '@temporalio/client';
import type { auditRetentionWorkflow } from '../workflows/audit-retention.js';
import { AUDIT_RETENTION_WORKFLOW_TYPE } from '../workflows/messages.js';

export const RETENTION_SCHEDULE_ID = 'hv-audit-retention';

/**
 * Keeps one daily Temporal Schedule that runs `auditRetentionWorkflow`. Every worker replica calls this at start:
 * the first creates it, the others bring its retention period and task queue up to date. It shows in the Temporal UI
 * under Schedules, where an operator can pause or trigger it.
 */
export async function ensureRetentionSchedule(options: {
  connectionOptions: ConnectionOptions;
  namespace: string;
  taskQueue: string;
  retentionDays: number;
  log: (line: string) => void;
}): Promise<void> {
  const connection = await Connection.connect(options.connectionOptions);
  try {
    const client = new Client({ connection, namespace: options.namespace });
    const action = {
      type: 'startWorkflow' as const,
      workflowType: AUDIT_RETENTION_WORKFLOW_TYPE,
      args: [{ retentionDays: options.retentionDays }] as Parameters<typeof auditRetentionWorkflow>,
      taskQueue: options.taskQueue,
      workflowId: 'audit-retention',
    };
    try {
      await client.schedule.create({
        scheduleId: RETENTION_SCHEDULE_ID,
        spec: { intervals: [{ every: '1d' }] },
        action,
        policies: { overlap: 'SKIP', catchupWindow: '1d' },
      });
      options.log(`created schedule ${RETENTION_SCHEDULE_ID} (audit retention ${options.retentionDays} days)`);
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(RETENTION_SCHEDULE_ID).update((previous) => ({ ...previous, action }));
    }
  } finally {
    await connection.close();
  }
}

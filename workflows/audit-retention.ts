import * as wf from '@temporalio/workflow';
import { z } from 'zod';
import { parseInput } from '../domain/validation.js';
import { retention } from './activity-proxies.js';

export const AuditRetentionInput = z.strictObject({
  /** Reference §8.3: `delta_retention_days = 180`. */
  retentionDays: z.number().int().min(1).max(36_500).default(180),
});
export type AuditRetentionInput = z.input<typeof AuditRetentionInput>;

/**
 * One retention pass: purge audit payloads recorded more than `retentionDays` ago (by workflow time), keeping hashes
 * and commitments. Run daily by the `hv-audit-retention` Temporal Schedule the worker keeps.
 */
export async function auditRetentionWorkflow(input: AuditRetentionInput = {}): Promise<{ purged: number }> {
  const { retentionDays } = parseInput(AuditRetentionInput, input, 'retention policy');
  const out = await retention.purgeAuditPayloads({ retentionDays, nowMs: Date.now() });
  wf.log.info('audit retention pass', { retentionDays, purged: out.purged });
  return out;
}

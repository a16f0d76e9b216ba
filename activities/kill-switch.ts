import type { Client } from '@temporalio/client';
import type { Pool } from './db.js';
import { readStanding, type Standing } from './liability.js';
import { DEFAULT_TASK_QUEUE, agentWorkflowId, registerSessionSignal } from '../workflows/messages.js';
import type { agentWorkflow } from '../workflows/agent.js';

export interface KillSwitchBlock {
  blockedAtMs: number;
  reason: string;
  trigger: 'deny_rate' | 'operator';
  authorizedBy: string | null;
  sessionId: string | null;
}

export interface KillSwitchDeps {
  pool: Pool;
  temporal?: () => Promise<Client>;
  /** The kill-switch configuration new agent workflows start with (`HV_KILL_SWITCH`, JSON). */
  killSwitchConfig?: Record<string, unknown>;
  taskQueue?: string;
}

export async function readKillSwitchBlock(db: Pick<Pool, 'query'>, agentDid: string): Promise<KillSwitchBlock | null> {
  const { rows } = await db.query<{
    blocked_at: Date;
    reason: string;
    trigger: 'deny_rate' | 'operator';
    authorized_by: string | null;
    session_id: string | null;
  }>('SELECT * FROM kill_switch_blocks WHERE agent_did = $1', [agentDid]);
  const r = rows[0];
  return r
    ? {
        blockedAtMs: r.blocked_at.getTime(),
        reason: r.reason,
        trigger: r.trigger,
        authorizedBy: r.authorized_by,
        sessionId: r.session_id,
      }
    : null;
}

export function createKillSwitchActivities(deps: KillSwitchDeps) {
  return {
    /**
     * Everything join needs to know about an identity: its liability standing and whether its kill switch is tripped
     * (read from the durable mirror). It also makes sure the identity's agent workflow exists and knows this session,
     * so the session's decisions reach its deny-rate window.
     */
    async admitAgent(input: {
      agentDid: string;
      sessionId: string;
    }): Promise<{ standing: Standing; killSwitch: KillSwitchBlock | null }> {
      if (deps.temporal) {
        const client = await deps.temporal();
        await client.workflow.signalWithStart<typeof agentWorkflow, [{ sessionId: string }]>('agentWorkflow', {
          workflowId: agentWorkflowId(input.agentDid),
          taskQueue: deps.taskQueue ?? DEFAULT_TASK_QUEUE,
          args: [{ agentDid: input.agentDid, config: deps.killSwitchConfig ?? {} }],
          signal: registerSessionSignal,
          signalArgs: [{ sessionId: input.sessionId }],
        });
      }
      const [standing, killSwitch] = await Promise.all([
        readStanding(deps.pool, input.agentDid),
        readKillSwitchBlock(deps.pool, input.agentDid),
      ]);
      return { standing, killSwitch };
    },

    /** Mirrors the agent workflow's block (or its removal) into Postgres; the first block record is kept. */
    async mirrorKillSwitchBlock(input: { agentDid: string; block: KillSwitchBlock | null }): Promise<void> {
      if (!input.block) {
        await deps.pool.query('DELETE FROM kill_switch_blocks WHERE agent_did = $1', [input.agentDid]);
        return;
      }
      const b = input.block;
      await deps.pool.query(
        `INSERT INTO kill_switch_blocks (agent_did, blocked_at, reason, trigger, authorized_by, session_id)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (agent_did) DO NOTHING`,
        [input.agentDid, new Date(b.blockedAtMs).toISOString(), b.reason, b.trigger, b.authorizedBy, b.sessionId],
      );
    },
  };
}

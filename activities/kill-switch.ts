import type { Client } from '@temporalio/client';
import type { Standing } from '../domain/standing.js';
import type { Pool } from '../store/db.js';
import { internalSigner, type InternalSigner } from '../store/internal-crypto.js';
import type { MirroredKillSwitchBlock } from '../domain/kill-switch.js';
import { readKillSwitchBlock, writeKillSwitchBlock } from '../store/kill-switch.js';
import { readStanding } from '../store/liability.js';
import {
  AGENT_WORKFLOW_TYPE,
  DEFAULT_TASK_QUEUE,
  agentWorkflowId,
  registerSessionSignal,
} from '../workflows/messages.js';
import type { agentWorkflow } from '../workflows/agent.js';
import type * as msg from '../workflows/messages.js';

export interface KillSwitchDeps {
  pool: Pool;
  temporal?: () => Promise<Client>;
  /** The kill-switch configuration new agent workflows start with (`HV_KILL_SWITCH`, JSON). */
  killSwitchConfig?: Record<string, unknown>;
  taskQueue?: string;
  /** Signs the registration (the identity accepts only signed ones). */
  internal?: InternalSigner;
}

/** The kill-switch activities: admission facts for join, and the durable mirror of an agent workflow's block. */
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
    }): Promise<{ standing: Standing; killSwitch: MirroredKillSwitchBlock | null }> {
      if (deps.temporal) {
        const client = await deps.temporal();
        const workflowId = agentWorkflowId(input.agentDid);
        const body = { sessionId: input.sessionId };
        const auth = internalSigner(deps).sign(registerSessionSignal.name, workflowId, body);
        await client.workflow.signalWithStart<typeof agentWorkflow, [msg.RegisterSession]>(AGENT_WORKFLOW_TYPE, {
          workflowId,
          taskQueue: deps.taskQueue ?? DEFAULT_TASK_QUEUE,
          args: [{ agentDid: input.agentDid, config: deps.killSwitchConfig ?? {} }],
          signal: registerSessionSignal,
          signalArgs: [{ ...body, auth }],
        });
      }
      const [standing, killSwitch] = await Promise.all([
        readStanding(deps.pool, input.agentDid),
        readKillSwitchBlock(deps.pool, input.agentDid),
      ]);
      return { standing, killSwitch };
    },

    /**
     * The identity's block as Postgres mirrors it, or null: what a new session checks of its creator (run as a local
     * activity, the one I/O of a session start). The agent workflow mirrors a block before it announces it.
     */
    async findKillSwitchBlock(input: { agentDid: string }): Promise<MirroredKillSwitchBlock | null> {
      return await readKillSwitchBlock(deps.pool, input.agentDid);
    },

    /** Mirrors the agent workflow's block (or its removal) into Postgres; the first block record is kept. */
    async mirrorKillSwitchBlock(input: { agentDid: string; block: MirroredKillSwitchBlock | null }): Promise<void> {
      await writeKillSwitchBlock(deps.pool, input.agentDid, input.block);
    },
  };
}

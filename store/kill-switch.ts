import type { MirroredKillSwitchBlock } from '../domain/kill-switch.js';
import type { Queryable } from './db.js';

/** The durable mirror of an identity's block, as admission reads it, or null when it is not blocked. */
export async function readKillSwitchBlock(db: Queryable, agentDid: string): Promise<MirroredKillSwitchBlock | null> {
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
        atMs: r.blocked_at.getTime(),
        reason: r.reason,
        trigger: r.trigger,
        authorizedBy: r.authorized_by,
        sessionId: r.session_id,
      }
    : null;
}

/** Stores an identity's block, or deletes it when `block` is null; a block already stored is kept as first recorded. */
export async function writeKillSwitchBlock(
  db: Queryable,
  agentDid: string,
  block: MirroredKillSwitchBlock | null,
): Promise<void> {
  if (!block) {
    await db.query('DELETE FROM kill_switch_blocks WHERE agent_did = $1', [agentDid]);
    return;
  }
  await db.query(
    `INSERT INTO kill_switch_blocks (agent_did, blocked_at, reason, trigger, authorized_by, session_id)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (agent_did) DO NOTHING`,
    [agentDid, new Date(block.atMs).toISOString(), block.reason, block.trigger, block.authorizedBy, block.sessionId],
  );
}

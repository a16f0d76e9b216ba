import type { SessionHandle } from '../../client/hypervisor-client.js';
import { actions, allActions, eventually } from '../helpers/session.js';

/**
 * A session that touches every handler and every timer path: joins with consensus, authorize decisions including a
 * breach, elevation with expiry, VFS, locks with TTL hand-over, a signal kill, and termination. Its recorded history
 * is the replay fixture that guards the session workflow's determinism.
 */
export async function fullSessionScenario(session: SessionHandle, creatorDid: string): Promise<void> {
  const [lead, worker, helper] = ['did:mesh:lead', 'did:mesh:worker', 'did:mesh:helper'];
  await session.approveJoin({ candidateDid: lead, approverDid: creatorDid });
  await session.join({ agentDid: lead, sigmaRaw: 0.97, actions: allActions });
  await session.join({ agentDid: worker, sigmaRaw: 0.9, actions: allActions });
  await session.join({ agentDid: helper, sigmaRaw: 0.4, actions: allActions, parentDid: worker });
  await session.activate({ authorizedBy: creatorDid });
  await session.authorize({ agentDid: worker, actionId: actions.edit.actionId });
  await session.authorize({ agentDid: worker, actionId: actions.deploy.actionId });
  await session.authorize({ agentDid: helper, actionId: actions.read.actionId });
  await session.elevate({ agentDid: worker, targetRing: 1, reason: 'deploy window', approvedBy: lead, ttlSeconds: 1 });
  await session.authorize({ agentDid: worker, actionId: actions.deploy.actionId });
  await session.write({ agentDid: worker, path: '/plan.md', content: 'step 1' });
  await session.read({ agentDid: lead, path: '/plan.md' });
  await session.write({ agentDid: lead, path: '/plan.md', content: 'step 1\nstep 2' });
  const { snapshotId } = await session.snapshot({ agentDid: lead, snapshotId: 'before-cleanup' });
  await session.setPermissions({ agentDid: lead, path: '/plan.md', agents: [lead, worker] });
  await session.restore({ agentDid: lead, snapshotId });
  await session.acquireLock({ agentDid: worker, path: '/db', intent: 'exclusive', ttlSeconds: 1 });
  await session.acquireLock({ agentDid: lead, path: '/db', intent: 'write', ttlSeconds: 30 });
  await eventually(
    () => session.view(),
    (v) => v.participants.every((p) => p.elevation === null) && v.locks.every((l) => l.agentDid === lead),
  );
  await session.sendKill({ agentDid: helper, reason: 'manual', authorizedBy: creatorDid, killId: 'kill-helper' });
  await eventually(
    () => session.view(),
    (v) => v.participants.some((p) => p.status === 'killed'),
  );
  await session.leave({ agentDid: worker });
  await session.terminate({ reason: 'scenario complete', authorizedBy: creatorDid });
}

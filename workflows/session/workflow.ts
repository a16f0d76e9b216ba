import * as wf from '@temporalio/workflow';
import { historyInfo } from '../stable-tasks.js';
import { killSwitchTripped } from '../../domain/kill-switch.js';
import { HvAgentIds, HvSessionId, HvSessionState, listedAgentIds } from '../../domain/search-attributes.js';
import * as model from '../../domain/session/index.js';
import type { SessionCommitment, SessionData } from '../../domain/session-types.js';
import { creatorAdmission, liability } from '../activity-proxies.js';
import { registerHandlers } from './handlers.js';
import { SessionRun, type SessionWorkflowInput } from './run.js';

/** The start arguments of {@link sessionWorkflow}: a new session, or the state a continue-as-new carries over. */
export type { SessionWorkflowInput };

/** How long continue-as-new waits for a batch in flight to land before it hands over without it. */
const FLUSH_WAIT_BEFORE_CAN = '30 seconds';

/**
 * A run continues as new at this many history events even before Temporal suggests it (≈ 4,000 on a default server).
 * A worker that lost the run from its cache rebuilds it by replaying its history at its next task; measured here, a
 * 3,736-event history took up to 6.4 s to replay on a loaded 2-core worker, too close to the 10 s workflow task
 * timeout, after which every retry replays again and the session stops answering.
 */
export const MAX_RUN_EVENTS = 2_000;

/** Time to hand the run over: Temporal suggests it, or the history reached {@link MAX_RUN_EVENTS}. */
const shouldContinueAsNew = (): boolean => {
  const info = historyInfo();
  return info.continueAsNewSuggested || info.historyLength >= MAX_RUN_EVENTS;
};

/**
 * One long-running workflow per shared session (docs/DESIGN.md §3.1). All governance state lives in one JSON object,
 * changed only through the reducers of `domain/session/`; the handler table is in `handlers.ts`. This function owns
 * the run's life: the first entry, the audit and follow-up loops, the expiry timer, continue-as-new, and the close.
 */
export async function sessionWorkflow(input: SessionWorkflowInput): Promise<SessionCommitment> {
  // Invalid start arguments throw a non-retryable InvalidInput failure here: the workflow fails, never its task.
  const run = new SessionRun(input);
  const created = () =>
    run.record([{ kind: 'session_created', agentDid: run.data.creatorDid, payload: { config: run.data.config } }]);
  // A new session checks its creator's kill switch itself (docs/DESIGN.md §3.1.1); histories from before the check
  // skip it. Until it answers, every handler waits (register.ts), so the session's first entry still comes first.
  const admitting = !input.carried && wf.patched(CREATOR_ADMISSION_PATCH);
  if (admitting) run.admission = 'pending';
  // First, before any handler exists: registering a handler runs the messages buffered for it on the spot, and their
  // entries must follow the session's first entry.
  else if (!input.carried) created();
  void run.audit.persist(
    () => run.data.config.enableBlockchainCommitment,
    () => run.handingOver,
  );
  void run.followUps.run(run);
  // Every handler is registered before the first await, so messages delivered with the first task find them.
  registerHandlers(run);
  if (admitting) await admitCreator(run, created);

  const publishSearchAttributes = searchAttributePublisher();
  const archived = (): boolean => run.data.state === 'archived';
  while (!archived()) {
    publishSearchAttributes(run.data);
    await sleepUntilSomethingChanges(run.data, () => run.data);
    if (archived()) break;
    run.sweep();
    if (Date.now() >= run.data.deadlineMs) {
      run.close({ reason: 'session_timeout' });
      break;
    }
    // A terminate during the hand-over ends the session in this run instead (continueAsNew returns).
    if (shouldContinueAsNew()) await continueAsNew(run);
  }
  publishSearchAttributes(run.data);
  return await finish(run);
}

/** The patch that added the creator's admission to a session's start. */
export const CREATOR_ADMISSION_PATCH = 'creator-admission';

/**
 * A creator blocked by its kill switch creates no session: nothing is recorded, the messages that waited fail (updates)
 * or are dropped (signals), and the workflow fails with `KillSwitchTripped`, which whoever awaits its result receives.
 */
async function admitCreator(run: SessionRun, created: () => void): Promise<void> {
  const { creatorDid } = run.data;
  const block = await creatorAdmission.findKillSwitchBlock({ agentDid: creatorDid });
  if (!block) {
    created();
    run.admission = 'admitted';
    return;
  }
  run.refusal = killSwitchTripped(creatorDid, block);
  run.admission = 'refused';
  await wf.condition(wf.allHandlersFinished);
  throw run.refusal;
}

/**
 * One timer at a time, for the earliest expiry. Wakes early only when that expiry moved earlier, the state or the
 * membership changed (search attributes), or Temporal suggests continue-as-new.
 */
async function sleepUntilSomethingChanges(atSleep: SessionData, current: () => SessionData): Promise<void> {
  const timerAt = model.nextDeadline(atSleep);
  const stateAtSleep = atSleep.state;
  const participantsAtSleep = Object.keys(atSleep.participants).length;
  await wf.condition(
    () =>
      current().state !== stateAtSleep ||
      Object.keys(current().participants).length !== participantsAtSleep ||
      model.nextDeadline(current()) < timerAt ||
      shouldContinueAsNew(),
    Math.max(1, timerAt - Date.now()),
  );
}

/** Publishes the session's search attributes when the state or the membership changed since the last time. */
function searchAttributePublisher(): (data: SessionData) => void {
  let published = '';
  return (data) => {
    const agentIds = listedAgentIds(data);
    const key = `${data.state}|${agentIds.join(',')}`;
    if (key === published) return;
    published = key;
    wf.upsertSearchAttributes([
      { key: HvSessionId, value: data.sessionId },
      { key: HvSessionState, value: data.state },
      { key: HvAgentIds, value: agentIds },
    ]);
  };
}

/**
 * Hands the run over to a new one with the whole state, the unpersisted entries and the pending follow-ups. Returns
 * only when the session was terminated while the hand-over waited: the terminate update waits for the commitment,
 * which this run must then make (handing over would wait for that update forever, and it for the hand-over).
 */
async function continueAsNew(run: SessionRun): Promise<void> {
  // A flush completing while this run closes would make the server reject the continue-as-new (UnhandledCommand)
  // and fail the updates in flight. Let it land first; during a database outage, go on without it after a while.
  // A kill update waiting for its hand-off keeps follow-ups running (see FollowUps.run), so handlers can finish.
  const terminated = () => run.data.state === 'archived';
  run.handingOver = true;
  await wf.condition(
    () => terminated() || (wf.allHandlersFinished() && !run.audit.flushing && !run.followUps.running),
    FLUSH_WAIT_BEFORE_CAN,
  );
  await wf.condition(() => terminated() || wf.allHandlersFinished());
  if (terminated()) {
    // Persistence and follow-ups resume: the close needs every entry stored before it commits.
    run.handingOver = false;
    return;
  }
  // Everything the next run takes must fit in one payload: breach windows and kill-switch copies are the only parts
  // that grow with the call rate rather than by a refusable request, so they are trimmed here when they must be.
  run.apply(model.trimWindows(run.data));
  const { data, audit, followUps } = run;
  await wf.continueAsNew<typeof sessionWorkflow>({
    sessionId: data.sessionId,
    creatorDid: data.creatorDid,
    config: data.config,
    carried: data,
    recent: audit.carriedRecent(),
    // A batch in flight stays in the outbox: the next run re-sends it and the store ignores what it already has.
    audit: audit.outbox,
    followUps: followUps.queue,
    activeSagas: [...followUps.activeSagas],
    replies: run.replies.carried(),
    ...(run.trust.enforced ? { knownSagas: run.knownSagas, noticeSeqs: run.noticeSeqs } : {}),
    operatorNonces: run.operators.nonces,
  });
}

/** After the close: slashes land, the chain becomes durable, then the commitment is stored and the bonds released. */
async function finish(run: SessionRun): Promise<SessionCommitment> {
  // Decided slashes land first (their entries belong in the chain), then every link is durable before the commitment
  // is: a verifier never sees a commitment ahead of its chain.
  await wf.condition(() => run.followUps.queue.length === 0);
  run.audit.flushNow();
  await wf.condition(() => run.audit.drained());
  const closing = run.commitment!;
  run.commitment = {
    ...closing,
    ...(await run.audit.commit(closing, run.workflowId, run.data.config.enableBlockchainCommitment)),
  };
  // Bonds are session-scoped: they end with it.
  await liability.releaseSessionBonds({ sessionId: run.data.sessionId, nowMs: Date.now() });
  run.committed = true;
  await wf.condition(wf.allHandlersFinished);
  return run.commitment;
}

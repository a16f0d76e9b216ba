import * as wf from '@temporalio/workflow';
import {
  SessionInput,
  TerminateSessionInput,
  type SessionCommitment,
  type SessionView,
} from '../domain/session-types.js';
import { parseInput } from '../domain/validation.js';
import { HvSessionId, HvSessionState } from '../domain/search-attributes.js';
import { getSessionStateQuery, terminateSessionUpdate } from './messages.js';

/** One long-running workflow per shared session (DESIGN §3.1). */
export async function sessionWorkflow(rawInput: SessionInput): Promise<SessionCommitment> {
  const input = parseInput(SessionInput, rawInput, 'session input');
  const view: SessionView = {
    sessionId: input.sessionId,
    creatorDid: input.creatorDid,
    state: 'handshaking',
    config: input.config,
    createdAt: Date.now(),
  };
  let commitment: SessionCommitment | undefined;

  // Handlers are registered before the first await so updates delivered with the first task are not rejected.
  wf.setHandler(getSessionStateQuery, () => view);
  wf.setHandler(
    terminateSessionUpdate,
    (raw) => {
      const { reason } = parseInput(TerminateSessionInput, raw, 'terminate input');
      view.state = 'archived';
      commitment = { sessionId: view.sessionId, state: view.state, reason, terminatedAt: Date.now() };
      return commitment;
    },
    { validator: (raw) => void parseInput(TerminateSessionInput, raw, 'terminate input') },
  );
  wf.upsertSearchAttributes([
    { key: HvSessionId, value: view.sessionId },
    { key: HvSessionState, value: view.state },
  ]);

  await wf.condition(() => commitment !== undefined);
  wf.upsertSearchAttributes([{ key: HvSessionState, value: view.state }]);
  await wf.condition(wf.allHandlersFinished);
  return commitment!;
}

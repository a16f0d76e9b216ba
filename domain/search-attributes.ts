import { defineSearchAttributeKey } from '@temporalio/common';
import type { SessionData } from './session-types.js';

/**
 * Search attributes the hypervisor writes so sessions, sagas and agents can be found in the Temporal UI and with
 * `temporal workflow list --query`. The dev server registers them at start; production clusters need
 * `temporal operator search-attribute create` once (see README).
 */
export const HvSessionId = defineSearchAttributeKey('HvSessionId', 'KEYWORD');
export const HvSessionState = defineSearchAttributeKey('HvSessionState', 'KEYWORD');
export const HvAgentIds = defineSearchAttributeKey('HvAgentIds', 'KEYWORD_LIST');
export const HvSagaStatus = defineSearchAttributeKey('HvSagaStatus', 'KEYWORD');

export const hypervisorSearchAttributes = [HvSessionId, HvSessionState, HvAgentIds, HvSagaStatus] as const;

const cliTypeNames = { KEYWORD: 'Keyword', KEYWORD_LIST: 'KeywordList' } as const;

/** `NAME=Type` pairs in the form `temporal server start-dev --search-attribute` and `operator search-attribute create` take. */
export const searchAttributeCliSpecs = (): string[] =>
  hypervisorSearchAttributes.map((key) => `${key.name}=${cliTypeNames[key.type]}`);

/**
 * Bytes of agent ids a session lists in `HvAgentIds`. Temporal refuses a search attribute value over 2 KB (and fails the
 * workflow task that upserts it), so a large session lists what fits: the active participants first, then the others,
 * each sorted. The identity's own workflow remembers every session it joined (`getSessions`), which is how
 * `hv session list --agent` finds the sessions that could not list it.
 */
export const AGENT_IDS_BUDGET_BYTES = 1_500;

/** The agent ids a session publishes in `HvAgentIds`, within {@link AGENT_IDS_BUDGET_BYTES}, sorted. */
export function listedAgentIds(data: Pick<SessionData, 'participants'>): string[] {
  const all = Object.values(data.participants);
  const ids = (active: boolean) =>
    all
      .filter((p) => (p.status === 'active') === active)
      .map((p) => p.agentDid)
      .sort();
  const listed: string[] = [];
  // The value is a JSON array: brackets, and per id its quotes and a comma (DIDs are ASCII, see identifiers.ts).
  let bytes = 2;
  for (const did of [...ids(true), ...ids(false)]) {
    bytes += did.length + 3;
    if (bytes > AGENT_IDS_BUDGET_BYTES) break;
    listed.push(did);
  }
  return listed.sort();
}

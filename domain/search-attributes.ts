import { defineSearchAttributeKey } from '@temporalio/common';

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

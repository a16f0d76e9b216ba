import { utf8ByteLength } from './sha256.js';

/**
 * Temporal's own limits, as a default server (1.29) enforces them. Everything a session accepts is sized from these so
 * that no command the workflow itself emits — an activity's input, a continue-as-new's state, an answer, a search
 * attribute — can exceed them (docs/DESIGN.md §7, "Limits").
 */
export const TEMPORAL_LIMITS = {
  /** `limit.blobSize.error`: one payload (an update's input, an activity's input, a continue-as-new's state). */
  payloadBytes: 2 * 1024 * 1024,
  /**
   * `history.maxInFlightUpdatePayloads`: the updates a workflow has in flight, together. Also the largest update the
   * server admits, which matters: the worker's answer to an update (acceptance or rejection) carries the update's
   * request, and an answer larger than `payloadBytes` makes the server terminate the workflow. So no update may come
   * near `payloadBytes`; this leaves room for the failure beside the request.
   */
  updatePayloadBytes: 1536 * 1024,
  /** The gRPC message limit: a whole request or response (a query's answer, a workflow task's commands). */
  grpcMessageBytes: 4 * 1024 * 1024,
  /** One search attribute value (keyword list included). */
  searchAttributeBytes: 2 * 1024,
  /** `limit.historyCount.error`: the server terminates a run past this many events. */
  historyEvents: 51_200,
  /** `limit.historySize.error`: … or past this many bytes of history. */
  historyBytes: 50 * 1024 * 1024,
} as const;

/**
 * The server-side limits the hypervisor's Temporal namespace is configured with (`--dynamic-config-value` for the dev
 * server, worker/temporal-dev-server.ts; the same keys in production's dynamic config, docs/DESIGN.md §12). They are
 * Temporal 1.29's defaults made explicit, so a message too large for the hypervisor is refused at the frontend
 * (`limit.blobSize.error` covers starts and signals, `history.maxInFlightUpdatePayloads` updates) and a history that
 * grows anyway ends at a known size. The payload limit cannot be lower: a session's continue-as-new state is up to 1.8 MiB.
 */
export const TEMPORAL_DYNAMIC_CONFIG = {
  'limit.blobSize.error': TEMPORAL_LIMITS.payloadBytes,
  'limit.blobSize.warn': 512 * 1024,
  'history.maxInFlightUpdatePayloads': TEMPORAL_LIMITS.updatePayloadBytes,
  'limit.historySize.error': TEMPORAL_LIMITS.historyBytes,
  'limit.historySize.warn': 10 * 1024 * 1024,
  'limit.historyCount.error': TEMPORAL_LIMITS.historyEvents,
  'limit.historyCount.warn': 10_240,
} as const;

/**
 * Bounds of every message field that is not bounded by its own domain rule (docs/DESIGN.md §12): an identifier, a
 * free text, a decision kind, a batch. Far below the payload limit, so whatever a workflow copies from a message into
 * an entry, an activity input or its carried state stays small.
 */
export const MESSAGE_LIMITS = {
  /** Ids that are not DIDs in the identifier grammar (decision ids, session ids as identities know them). */
  idChars: 512,
  /** Reasons and other free text copied into entries. */
  textChars: 2048,
  /** A decision kind (`allow`, `deny`, `advisory_deny`, …). */
  kindChars: 64,
  /** Decisions in one report: a session's outbox holds at most `CARRY_BUDGET.outboxBytes` of them (≈ 4,500). */
  decisionsPerReport: 10_000,
  /** Sessions an identity carries through continue-as-new (workflows/agent.ts). */
  sessionsPerIdentity: 500,
  /** A saga definition or its options as `startSaga` receives them (JSON size). */
  sagaDefinitionBytes: 256 * 1024,
  /** The error text kept when a signal is rejected (its `_rejected` entry, the rejection list of a status query). */
  rejectionChars: 500,
  /** Nesting of arrays and objects in any message (saga metadata: 32 of its own, inside the definition). */
  maxNesting: 64,
  /** … and in a start argument, whose carried state holds messages' content a few levels down. */
  maxStartNesting: 128,
  /** Rejected messages an identity or a saga lists in its status (the newest; the count covers all of them). */
  rejectionsKept: 20,
} as const;

/**
 * What a session carries through continue-as-new, as budgets whose sum (1.8 MiB) stays below
 * {@link TEMPORAL_LIMITS.payloadBytes}; the rest is margin.
 */
export const CARRY_BUDGET = {
  /**
   * The session's state without its shared files, breach windows and kill-switch copies, checked at every join:
   * participants, their registered actions, approvals, buckets, elevations, locks, vouches, quarantines.
   */
  stateBytes: 576 * 1024,
  /** Shared files: `VFS_LIMITS.maxTotalBytes` + `maxSnapshotBytes` of content, plus paths and clocks. */
  vfsBytes: 600 * 1024,
  /** Audit entries and decision reports waiting for the store; past it, governance updates are refused (fail closed). */
  outboxBytes: 448 * 1024,
  /** Breach windows and kill-switch copies: the oldest events are dropped at the hand-over past this. */
  windowsBytes: 160 * 1024,
  /** The recent audit entries carried for `getAuditTail`. */
  recentBytes: 32 * 1024,
  /** The latest update answers, for retries across the hand-over. */
  repliesBytes: 32 * 1024,
} as const;

// The session's audit outbox (workflows/session/audit-outbox.ts).

/** Audit entries kept in workflow memory for the `getAuditTail` query (the full chain lives in the audit store). */
export const RECENT_ENTRIES = 100;
/** How many of the recent entries a continue-as-new carries over. */
export const RECENT_CARRIED = 20;
/** Links per insert: one round trip and one commit for up to this many rows. */
export const AUDIT_BATCH_SIZE = 200;
/**
 * Unpersisted entries a session accepts before it refuses new governance updates (and `CARRY_BUDGET.outboxBytes` of
 * them and of decision reports, whichever comes first). The outbox is carried through continue-as-new, so it must stay
 * well below Temporal's payload limit; during a database outage the session fails closed instead of growing without
 * bound.
 */
export const MAX_AUDIT_BACKLOG = 1000;

/**
 * How long recorded entries gather in the outbox before they are flushed together (a full batch goes at once, and so
 * does everything when the session closes). One flush costs a timer, an activity and two workflow tasks, shared by all
 * the updates of the interval instead of paid by each.
 */
export const AUDIT_FLUSH_INTERVAL_MS = 250;

/** One audit flush's entries: one activity input, far below the payload limit. */
export const AUDIT_BATCH_BYTES = 128 * 1024;

/** A query's answer stays below this (the gRPC limit with margin): the audit tail stops adding entries past it. */
export const QUERY_ANSWER_BYTES = 1024 * 1024;

/** UTF-8 bytes of a value's JSON form, as the default payload converter writes it. */
export const jsonBytes = (value: unknown): number => utf8ByteLength(JSON.stringify(value) ?? '');

/** The newest items of `items` whose JSON fits in `budget` bytes together (the newest one always). */
export function newestWithin<T>(items: readonly T[], budget: number): T[] {
  let bytes = 0;
  let from = items.length;
  while (from > 0) {
    const size = jsonBytes(items[from - 1]);
    if (from < items.length && bytes + size > budget) break;
    bytes += size;
    from--;
  }
  return items.slice(from);
}

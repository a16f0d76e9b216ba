import type { Client, WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import fc from 'fast-check';

/**
 * Generated messages for the fuzz suite (test/workflows/fuzz.test.ts): arbitrary JSON (null included), wrong types,
 * huge strings (up to 3 MB, past the server's 2 MB payload limit), deep nesting, and mutations of a valid message
 * (a field dropped, replaced by any of those, or an unknown field added). Seeded: the same seed sends the same
 * messages.
 */

/**
 * Huge fields: accepted by the server (64 KiB, 512 KiB) or refused by it (3 MiB). Fields just under the 2 MiB payload
 * limit are left to test/workflows/wedging.test.ts, a few at a time: by the hundred they grow a history by hundreds of
 * MB, and on a loaded 2-core machine a replay of it outlasts the workflow task timeout (see docs/DESIGN.md §12.2).
 */
const HUGE_SIZES = [64 * 1024, 512 * 1024, 3 * 1024 * 1024];

/** `depth` nested arrays or objects around a string. */
function nested(depth: number, asObject: boolean): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = asObject ? { a: value } : [value];
  return value;
}

const huge = fc.constantFrom(...HUGE_SIZES).map((n) => 'x'.repeat(n));
const deep = fc.tuple(fc.integer({ min: 20, max: 1_000 }), fc.boolean()).map(([d, o]) => nested(d, o));
const wrongType = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 40 }),
  fc.array(fc.integer(), { maxLength: 5 }),
  fc.constant({}),
);

/** Any value a field can get in a mutation: mostly small wrong types, sometimes huge or deep. */
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 12, arbitrary: wrongType },
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: huge },
  { weight: 1, arbitrary: deep },
);

/** A valid message with one thing wrong (or, rarely, nothing: then it must simply work). */
function mutated(valid: Record<string, unknown>): fc.Arbitrary<unknown> {
  const keys = Object.keys(valid);
  const extra = fc
    .tuple(fc.string({ minLength: 1, maxLength: 12 }), fieldValue)
    .map(([key, value]) => ({ ...valid, [key]: value }));
  const unchanged = fc.constant(valid);
  if (keys.length === 0) return fc.oneof({ weight: 4, arbitrary: extra }, { weight: 1, arbitrary: unchanged });
  const replace = fc.tuple(fc.constantFrom(...keys), fieldValue).map(([key, value]) => ({ ...valid, [key]: value }));
  const drop = fc.constantFrom(...keys).map((key) => {
    const { [key]: _dropped, ...rest } = valid;
    return rest;
  });
  return fc.oneof(
    { weight: 6, arbitrary: replace },
    { weight: 2, arbitrary: drop },
    { weight: 2, arbitrary: extra },
    { weight: 1, arbitrary: unchanged },
  );
}

/** A message for a target whose valid form is `valid`. */
export function messageArbitrary(valid: Record<string, unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
    { weight: 2, arbitrary: wrongType },
    { weight: 1, arbitrary: huge },
    { weight: 1, arbitrary: deep },
    { weight: 8, arbitrary: mutated(valid) },
  );
}

/** How long an update may take before the fuzz suite counts it refused (a valid one answers in well under that). */
const UPDATE_DEADLINE_MS = 5_000;

/** One message of one workflow: its kind, its name, a valid example, and how to send it. */
export interface FuzzMessage {
  kind: 'signal' | 'update' | 'query' | 'start';
  target: string;
  name: string;
  valid: Record<string, unknown>;
  /** Refuse to send a payload that would legitimately end the target (a valid terminate, say). */
  skip?: (payload: unknown) => boolean;
  send: (payload: unknown) => Promise<unknown>;
}

/** Signal, update and query messages of one running workflow. */
export function messagesOf(
  client: Client,
  target: string,
  handle: WorkflowHandle,
  spec: {
    signals?: Record<string, Record<string, unknown>>;
    updates?: Record<string, Record<string, unknown>>;
    queries?: Record<string, Record<string, unknown>>;
    skip?: Record<string, (payload: unknown) => boolean>;
  },
): FuzzMessage[] {
  const of = (
    kind: FuzzMessage['kind'],
    entries: Record<string, Record<string, unknown>> | undefined,
    send: (name: string, payload: unknown) => Promise<unknown>,
  ): FuzzMessage[] =>
    Object.entries(entries ?? {}).map(([name, valid]) => ({
      kind,
      target,
      name,
      valid,
      ...(spec.skip?.[name] ? { skip: spec.skip[name] } : {}),
      send: (payload) => send(name, payload),
    }));
  return [
    ...of('signal', spec.signals, (name, payload) => handle.signal(name, payload)),
    ...of('update', spec.updates, (name, payload) =>
      // The server refuses an oversized update as ResourceExhausted, which the client would retry for many seconds.
      client.connection.withDeadline(Date.now() + UPDATE_DEADLINE_MS, () =>
        handle.executeUpdate(name, { args: [payload] }),
      ),
    ),
    ...of('query', spec.queries, (name, payload) => handle.query(name, payload)),
  ];
}

/** The outcome of one sent message, as the fuzz suite counts them. */
export type Outcome = 'accepted' | 'refused' | 'skipped' | 'unanswered';

/** Sends every message with at most `concurrency` in flight; a rejection is a refusal, never a test failure. */
export async function sendAll(
  items: { message: FuzzMessage; payload: unknown }[],
  concurrency: number,
): Promise<{ counts: Map<string, Record<Outcome, number>>; unanswered: string[] }> {
  const unanswered: string[] = [];
  const counts = new Map<string, Record<Outcome, number>>();
  const count = (key: string, outcome: Outcome) => {
    const c = counts.get(key) ?? { accepted: 0, refused: 0, skipped: 0, unanswered: 0 };
    c[outcome]++;
    counts.set(key, c);
  };
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const { message, payload } = items[next++]!;
      const key = `${message.kind}`;
      if (message.skip?.(payload)) {
        count(key, 'skipped');
        continue;
      }
      const outcome = await answerOf(message.send(payload));
      if (outcome === 'unanswered') unanswered.push(`${message.target}.${message.name}`);
      count(key, outcome);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { counts, unanswered };
}

/** How long a call may stay unanswered before the suite stops waiting for it (and says which one it was). */
const ANSWER_TIMEOUT_MS = 15_000;

async function answerOf(call: Promise<unknown>): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve('unanswered'), ANSWER_TIMEOUT_MS);
  });
  const answered = call.then(
    (): Outcome => 'accepted',
    (): Outcome => 'refused',
  );
  try {
    return await Promise.race([answered, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Workflow-task failures (and, apart, timeouts: a loaded machine can cause those) in one run's history. A page of large events can pass the client's 4 MB message limit, so a
 * page that cannot be read is read again one event at a time.
 */
export async function taskFailuresIn(
  client: Client,
  workflowId: string,
  runId?: string,
): Promise<{ failed: number; timedOut: number; unhandledCommand: number; cause: string | null }> {
  let failed = 0;
  let unhandledCommand = 0;
  let cause: string | null = null;
  let timedOut = 0;
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await readPage(client, workflowId, runId, nextPageToken, 128).catch(() =>
      readPage(client, workflowId, runId, nextPageToken, 1),
    );
    for (const e of page.history?.events ?? []) {
      // UnhandledCommand is the server refusing a completion because a signal arrived meanwhile (a continue-as-new
      // racing a signal storm); the worker retries at once with the signal. Not a failure of the workflow's code.
      if (
        e.workflowTaskFailedEventAttributes?.cause ===
        temporal.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND
      )
        unhandledCommand++;
      else if (e.workflowTaskFailedEventAttributes != null) {
        failed++;
        cause ??=
          `${e.workflowTaskFailedEventAttributes.cause}: ${e.workflowTaskFailedEventAttributes.failure?.message ?? ''}`.slice(
            0,
            300,
          );
      }
      if (e.workflowTaskTimedOutEventAttributes != null) timedOut++;
    }
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return { failed, timedOut, unhandledCommand, cause };
}

function readPage(
  client: Client,
  workflowId: string,
  runId: string | undefined,
  nextPageToken: Uint8Array | undefined,
  maximumPageSize: number,
) {
  return client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId, ...(runId ? { runId } : {}) },
    maximumPageSize,
    nextPageToken,
  });
}

/** Every run of `workflowId` (continue-as-new included), newest first, from visibility. */
export async function runIdsOf(client: Client, workflowId: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) ids.push(w.runId);
  return ids;
}

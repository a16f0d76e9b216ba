import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { ErrorType } from '../../domain/errors.js';
import type { Pool } from '../../store/db.js';
import type { ExportedEntry } from '../audit.js';
import { HypervisorError, toHypervisorError } from '../errors.js';
import type { SessionHandle } from '../hypervisor-client.js';
import { parseNumber, withPool, withSession } from './common.js';
import { formatEvent } from './events.js';
import { c, isJsonMode } from './output.js';

const SESSION_CLOSED_KIND = 'session_archived';

export interface WatchOptions {
  /** First seq to print (1: the whole chain). */
  fromSeq: number;
  intervalMs: number;
  signal: AbortSignal;
  onEntry: (entry: ExportedEntry) => void;
}

/** True while the session's workflow (its latest run) is open. Describe reads Temporal's visibility: no history. */
async function sessionOpen(session: SessionHandle): Promise<boolean> {
  try {
    const { status } = await session.workflow.describe();
    return status.name === 'RUNNING' || status.name === 'CONTINUED_AS_NEW';
  } catch (err) {
    throw toHypervisorError(err, { sessionId: session.sessionId });
  }
}

/**
 * Follows a session's persisted audit entries in seq order and returns the last seq printed.
 *
 * It reads the audit store (not a workflow query), so a poll costs the session no workflow task and no history, and
 * what it prints is exactly what `hv audit export` and `hv audit verify` see. Entries are printed only while their
 * seqs are consecutive: the outbox persists in seq order, so a hole means the next batch is still being written, and
 * waiting for it keeps the stream free of gaps; resuming with `--from-seq` (last seq + 1) keeps it free of duplicates.
 * It ends at the session's `session_archived` entry, or once the workflow is closed and nothing more is stored.
 */
export async function watchSession(pool: Pool, session: SessionHandle, o: WatchOptions): Promise<number> {
  const { exportAuditEntries } = await import('../audit.js'); // on use: it loads the store (pg)
  let last = o.fromSeq - 1;
  while (!o.signal.aborted) {
    let closed = false;
    let progressed = false;
    for await (const entry of exportAuditEntries(pool, session.sessionId, { afterSeq: last })) {
      if (entry.seq !== last + 1 || o.signal.aborted) break;
      o.onEntry(entry);
      last = entry.seq;
      progressed = true;
      closed ||= entry.kind === SESSION_CLOSED_KIND;
    }
    if (closed) return last;
    // The store is read once more after the workflow is seen closed, so its final entries are not missed.
    if (!progressed && !(await sessionOpen(session))) {
      const more = await exportAuditEntries(pool, session.sessionId, { afterSeq: last }).next();
      if (more.done) return last;
      continue;
    }
    await sleep(o.intervalMs, undefined, { signal: o.signal }).catch(() => undefined);
  }
  return last;
}

export function registerWatchCommand(session: Command): void {
  session
    .command('watch <sessionId>')
    .description('follow the session’s audit entries live (Ctrl-C to stop); ends when the session closes')
    .option(
      '--from-seq <n>',
      'first entry to print (resume with the last seq printed + 1)',
      parseNumber('--from-seq'),
      1,
    )
    .option('--interval <ms>', 'how often to poll the audit store', parseNumber('--interval'), 500)
    .action((id: string, o: { fromSeq: number; interval: number }) => {
      if (!Number.isInteger(o.fromSeq) || o.fromSeq < 1)
        throw new HypervisorError(ErrorType.InvalidInput, `--from-seq must be a whole number ≥ 1, got ${o.fromSeq}`);
      const stop = new AbortController();
      const onSigint = () => stop.abort();
      process.once('SIGINT', onSigint);
      process.once('SIGTERM', onSigint);
      const json = isJsonMode();
      return withPool((pool) =>
        withSession(id, async (s) => {
          const last = await watchSession(pool, s, {
            fromSeq: o.fromSeq,
            intervalMs: Math.max(50, o.interval),
            signal: stop.signal,
            onEntry: (entry) => console.log(json ? JSON.stringify(entry) : formatEvent(entry)),
          });
          const why = stop.signal.aborted ? 'stopped' : 'session closed';
          console.error(c.dim(`${why} after entry ${last}; resume with --from-seq ${last + 1}`));
        }),
      ).finally(() => {
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
      });
    });
}

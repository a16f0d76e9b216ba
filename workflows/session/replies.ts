import { CARRY_BUDGET, jsonBytes } from '../../domain/limits.js';

/** How many of the run's latest update answers a session remembers for retried update ids. */
export const REMEMBERED_REPLIES = 256;
/** An answer larger than this (JSON bytes) is not carried to the next run: a retry of it runs again. */
export const CARRIED_REPLY_BYTES = 4_096;

/** One remembered answer, as continue-as-new carries it. */
export type CarriedReply = [updateId: string, result: unknown];

/**
 * The answers of the session's latest updates, by update id. Temporal deduplicates an update id within a run only: a
 * client that retries an update the previous run already answered (the run continued as new meanwhile) reaches the
 * next run, which must answer it the same way instead of applying it again. The latest answers are carried through
 * continue-as-new for that.
 */
export class Replies {
  private readonly byId: Map<string, unknown>;

  constructor(carried: readonly CarriedReply[] | undefined) {
    this.byId = new Map(carried ?? []);
  }

  /** The answer already given to `updateId`, if it is remembered. */
  answered(updateId: string | undefined): { result: unknown } | undefined {
    if (updateId === undefined || !this.byId.has(updateId)) return undefined;
    return { result: this.byId.get(updateId) };
  }

  /** Remembers an answer (the oldest is forgotten past {@link REMEMBERED_REPLIES}). */
  remember(updateId: string | undefined, result: unknown): void {
    if (updateId === undefined) return;
    this.byId.set(updateId, result);
    if (this.byId.size > REMEMBERED_REPLIES) this.byId.delete(this.byId.keys().next().value!);
  }

  /** What continue-as-new carries: the newest answers that are small enough, within `CARRY_BUDGET.repliesBytes`. */
  carried(): CarriedReply[] {
    const out: CarriedReply[] = [];
    let bytes = 0;
    for (const [id, result] of [...this.byId].reverse()) {
      const size = jsonBytes(result) + id.length;
      if (size > CARRIED_REPLY_BYTES) continue;
      if (bytes + size > CARRY_BUDGET.repliesBytes) break;
      bytes += size;
      out.push([id, result]);
    }
    return out.reverse();
  }
}

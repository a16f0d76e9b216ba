import * as wf from '@temporalio/workflow';
import { MESSAGE_LIMITS } from '../domain/limits.js';

/** One message a workflow refused: which one, when (workflow time), and why (bounded). */
export interface RejectedMessage {
  message: string;
  atMs: number;
  error: string;
}

/** What a status query shows of the messages a workflow refused: how many in this run, and the newest few. */
export interface RejectionsView {
  count: number;
  recent: RejectedMessage[];
}

/** The text of an error as a rejection keeps it: bounded, whatever the input was. */
export const rejectionText = (err: unknown): string =>
  (err instanceof Error ? err.message : String(err)).slice(0, MESSAGE_LIMITS.rejectionChars);

/**
 * The signals (and failed handlers) a workflow without an audit chain refused (docs/DESIGN.md §12): a signal cannot
 * be answered, so an invalid one is dropped, logged and counted here, and the workflow goes on. Bounded: the count
 * covers the run, the list keeps the newest {@link MESSAGE_LIMITS.rejectionsKept}.
 */
export class Rejections {
  private count = 0;
  private readonly recent: RejectedMessage[] = [];

  record(message: string, err: unknown): void {
    const error = rejectionText(err);
    this.count++;
    this.recent.push({ message, atMs: Date.now(), error });
    if (this.recent.length > MESSAGE_LIMITS.rejectionsKept) this.recent.shift();
    wf.log.warn(`ignored ${message} message`, { error });
  }

  /** Runs a signal's handler body; anything it throws drops the signal instead of failing the workflow task. */
  guarded(message: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.record(message, err);
    }
  }

  view(): RejectionsView {
    return { count: this.count, recent: [...this.recent] };
  }
}

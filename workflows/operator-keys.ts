import * as wf from '@temporalio/workflow';
import { ErrorType, hvError } from '../domain/errors.js';
import {
  rememberNonce,
  splitAuth,
  verifyCommand,
  type CommandSigner,
  type NonceBook,
} from '../domain/operator-command.js';
import { indexDirectory, type CommandTarget, type KeyIndex, type OperatorDirectory } from '../domain/operators.js';
import { operatorDirectory } from './activity-proxies.js';
import * as msg from './messages.js';

/** Marks the runs that enforce operator authority; runs recorded before it replay without (their commands were not signed). */
export const OPERATOR_AUTHORITY_PATCH = 'operator-authority';

/** `refreshOperatorKeys` is honoured at most {@link REFRESH_BURST} times per this window (anyone may send it). */
export const REFRESH_WINDOW_MS = 60_000;
export const REFRESH_BURST = 10;

/**
 * A workflow's copy of the operator directory and its nonce book (docs/DESIGN.md §13). The directory comes from the
 * worker's trusted store through one local activity at run start (and again on `refreshOperatorKeys`), never from a
 * caller; the nonces of accepted commands are carried through continue-as-new until they expire.
 */
export class OperatorKeys {
  private keys: KeyIndex | null = null;
  /** The directory as last loaded (or, in the registry, as last changed). */
  directory: OperatorDirectory | null = null;
  private complete = false;
  private loading: Promise<void> | null = null;
  /** When the refreshes of the current window were honoured. */
  private refreshes: number[] = [];
  /** Signals that arrived before the directory landed, run (in order) once it has. */
  private readonly waiting: Array<() => void> = [];
  nonces: NonceBook;
  /** False on runs recorded before operator authority existed (they replay unchanged and accept unsigned commands). */
  readonly enforced: boolean;

  constructor(carriedNonces: NonceBook | undefined) {
    this.nonces = { ...carriedNonces };
    this.enforced = wf.patched(OPERATOR_AUTHORITY_PATCH);
    if (this.enforced) void this.load();
  }

  /** Reads the directory again (one local activity); concurrent callers share the read. */
  load(): Promise<void> {
    this.loading ??= operatorDirectory
      .loadOperatorDirectory()
      .then((loaded) => {
        this.replace(loaded.directory);
        this.complete = loaded.complete;
        for (const run of this.waiting.splice(0)) run();
      })
      .finally(() => {
        this.loading = null;
      });
    return this.loading;
  }

  /**
   * Verifies a signed command for this workflow (see `verifyCommand`); throws `PermissionDenied` when it is refused.
   * Before the directory has landed every command is refused as `unknown_key`, which the client answers with a
   * refresh (that waits for the read) and one retry.
   */
  verify(cmd: string, raw: unknown, target: CommandTarget): { signer: CommandSigner; args: Record<string, unknown> } {
    if (!this.keys)
      throw hvError(
        ErrorType.PermissionDenied,
        'operator command refused (unknown_key): the operator directory is loading',
        { reason: 'unknown_key' },
      );
    return verifyCommand({
      cmd,
      workflowId: wf.workflowInfo().workflowId,
      raw,
      keys: this.keys,
      target,
      nowMs: Date.now(),
      nonces: this.nonces,
    });
  }

  /**
   * Runs `fn` now, or once the directory has landed: a signed signal (a durable kill) that arrives with the run's
   * first task must not be dropped because the run has not read its directory yet.
   */
  whenLoaded(fn: () => void): void {
    if (!this.enforced || this.keys) fn();
    else this.waiting.push(fn);
  }

  /** Takes a new directory (the registry's own changes). */
  replace(directory: OperatorDirectory): void {
    this.directory = directory;
    this.keys = indexDirectory(directory);
  }

  /** Remembers an accepted command's nonce (in the handler: validators must not change state). */
  accept(signer: CommandSigner): void {
    this.nonces = rememberNonce(this.nonces, signer, Date.now());
  }

  /**
   * A signed signal refused for its key (new, rotated) cannot be retried by its sender: the workflow re-reads the
   * directory itself, within the refresh budget, and runs `again` once it has. Returns false when it will not.
   */
  retryAfterRefresh(err: unknown, again: () => void): boolean {
    const reason = (err as { details?: Array<{ reason?: unknown }> })?.details?.[0]?.reason;
    if (!this.enforced || (reason !== 'unknown_key' && reason !== 'revoked_key') || !this.mayRefresh()) return false;
    this.noteRefresh();
    void this.load().then(again);
    return true;
  }

  private mayRefresh(): boolean {
    return this.refreshes.filter((at) => at > Date.now() - REFRESH_WINDOW_MS).length < REFRESH_BURST;
  }

  private noteRefresh(): void {
    const now = Date.now();
    this.refreshes = [...this.refreshes.filter((at) => at > now - REFRESH_WINDOW_MS), now];
  }

  /** Registers `refreshOperatorKeys`: no arguments, so all it can do is make this workflow re-read the trusted store. */
  registerRefresh(): void {
    wf.setHandler(
      msg.refreshOperatorKeysUpdate,
      async () => {
        this.noteRefresh();
        await this.load();
        return { keys: this.keys?.size ?? 0, complete: this.complete };
      },
      {
        validator: () => {
          if (!this.enforced)
            throw hvError(ErrorType.IllegalTransition, 'this run does not enforce operator authority');
          // A load in flight is shared, so a refresh then costs nothing; an incomplete copy may always retry.
          if (this.loading || !this.complete || !this.keys) return;
          if (!this.mayRefresh())
            throw hvError(ErrorType.RateLimited, `refreshOperatorKeys at most ${REFRESH_BURST} times a minute`);
        },
      },
    );
  }
}

/** The input without its `auth` block: what runs that do not enforce authority parse. */
export const withoutAuth = (raw: unknown): unknown =>
  typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? splitAuth(raw).args : raw;

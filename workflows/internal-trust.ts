import * as wf from '@temporalio/workflow';
import {
  noteRejected,
  verifyInternalMessage,
  type InternalAuth,
  type RejectedLog,
  type TrustAnchor,
} from '../domain/internal-signature.js';
import { internalKeys } from './activity-proxies.js';

/**
 * The patch that made workflows require signed internal messages and bind them to their own state (docs/DESIGN.md
 * §3.5). A run replaying a history recorded before it takes the old paths (no key fetch, no signing, nothing refused),
 * so its commands are the ones it recorded.
 */
export const INTERNAL_AUTH_PATCH = 'hv-internal-auth';

/**
 * A run's trust in internal messages: the public keys its worker accepts (fetched once per run by a local activity,
 * never taken from a start argument), the messages waiting for them in arrival order, and the refusals so far.
 */
export class InternalTrust {
  /** False when replaying a run recorded before {@link INTERNAL_AUTH_PATCH}: everything is accepted, as it was then. */
  readonly enforced: boolean;
  readonly rejected: RejectedLog = { count: 0, latest: [] };
  private anchors: TrustAnchor[] | null = null;
  private loaded: Promise<void> | null = null;
  /** Deliveries waiting for the keys (or behind one that is), so messages are handled in the order they arrived. */
  private waiting = 0;

  constructor(private readonly workflowId: string) {
    this.enforced = wf.patched(INTERNAL_AUTH_PATCH);
  }

  /** Fetches the keys now (once per run) rather than when the first signed message needs them. */
  load(): Promise<void> {
    if (!this.enforced) return Promise.resolve();
    return (this.loaded ??= internalKeys.internalTrustAnchors().then((anchors) => void (this.anchors = anchors)));
  }

  /**
   * Runs `handle` now, or, when it needs the keys and they are not here yet (or an earlier message is still waiting),
   * once they are: the returned promise makes the signal handler unfinished meanwhile, so continue-as-new waits for it.
   */
  deliver(needsKeys: boolean, handle: () => void): void | Promise<void> {
    const ready = !this.enforced || this.anchors !== null;
    if (this.waiting === 0 && (ready || !needsKeys)) return handle();
    this.waiting += 1;
    return this.load().then(() => {
      this.waiting -= 1;
      handle();
    });
  }

  /** Null when `message` is a genuine `name` message for this workflow (or the run predates the patch), else why not. */
  refusal(name: string, message: unknown): string | null {
    if (!this.enforced) return null;
    if (!this.anchors) return 'the internal keys are not loaded yet';
    const verdict = verifyInternalMessage(this.anchors, name, this.workflowId, message, Date.now());
    return verdict.ok ? null : verdict.reason;
  }

  /** Records a refused message in the run's status (bounded) and in the worker's log. */
  reject(name: string, reason: string): void {
    noteRejected(this.rejected, { name, reason, atMs: Date.now() });
    wf.log.warn('refused internal message', { name, reason, workflowId: this.workflowId });
  }

  /** One signature per target for a `name` message with `body`; none in a run that predates the patch. */
  async sign(name: string, body: unknown, targets: string[]): Promise<Array<InternalAuth | undefined>> {
    if (!this.enforced || targets.length === 0) return targets.map(() => undefined);
    return internalKeys.signInternalMessages({ name, body, targets });
  }
}

import type { InternalAuth, TrustAnchor } from '../domain/internal-signature.js';
import type { InternalSigner } from '../store/internal-crypto.js';

export interface InternalDeps {
  /** The worker's internal key (`HV_INTERNAL_SIGNING_KEY`): signs what workflows tell each other through it. */
  internal: InternalSigner;
}

/** The internal-key activities: the public keys a workflow accepts, and signatures for the messages it sends. */
export function createInternalActivities(deps: InternalDeps) {
  return {
    /**
     * The internal public keys this worker accepts (the current one, then the previous ones of a rotation). Run as a
     * local activity at the start of every workflow run that verifies internal messages: its answer is recorded in the
     * run's history (a marker), so replay sees the same keys, and no start argument can choose them.
     */
    // eslint-disable-next-line @typescript-eslint/require-await
    async internalTrustAnchors(): Promise<TrustAnchor[]> {
      return deps.internal.anchors;
    },

    /** One signature of the message `name` with this body for each target workflow, in order. */
    // eslint-disable-next-line @typescript-eslint/require-await
    async signInternalMessages(input: { name: string; body: unknown; targets: string[] }): Promise<InternalAuth[]> {
      const nowMs = Date.now();
      return input.targets.map((target) => deps.internal.sign(input.name, target, input.body, nowMs));
    },
  };
}

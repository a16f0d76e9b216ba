import type { Json } from '../domain/audit-chain.js';
import {
  attributeSagaFault,
  ledgerSeverity,
  slashCascade,
  toMicro,
  type LedgerEntryType,
  type LiabilityPolicy,
  type SlashChange,
  type Vouch,
} from '../domain/liability.js';
import type { SagaDefinition } from '../domain/saga-dsl.js';
import type { Pool } from '../store/db.js';
import {
  appendLedger,
  insertFaultAttribution,
  insertVouch,
  recordSlash,
  releaseSessionBonds,
} from '../store/liability.js';

export interface SlashInput {
  /** Idempotency: a retried slash returns the stored outcome instead of slashing twice. */
  slashId: string;
  sessionId: string;
  culpritDid: string;
  /** The culprit's σ when the hypervisor has none on record (its presented σ in the session). */
  culpritSigma: number;
  reason: string;
  policy: LiabilityPolicy;
  nowMs: number;
}

/** The liability activities: the session's ledger, bonds and slashes, and a saga's fault attribution. */
export function createLiabilityActivities(deps: { pool: Pool }) {
  return {
    /** A ledger entry the session decided (quarantine entered/released); idempotent by key. */
    async appendLedgerEntry(input: {
      key: string;
      agentDid: string;
      entryType: LedgerEntryType;
      sessionId: string;
      details: Json;
    }): Promise<void> {
      await appendLedger(deps.pool, [{ ...input, severity: ledgerSeverity(input.entryType) }]);
    },

    /** Mirrors a bond the session accepted into Postgres, with its two ledger entries. */
    async recordVouch(input: { vouch: Vouch }): Promise<void> {
      await insertVouch(deps.pool, input.vouch);
    },

    /** Bonds end with their session. */
    async releaseSessionBonds(input: { sessionId: string; nowMs: number }): Promise<number> {
      return releaseSessionBonds(deps.pool, input.sessionId, input.nowMs);
    },

    /**
     * Slashes a culprit and cascades to its vouchers in the session (docs/DESIGN.md §R6), in one transaction: σ
     * changes in agent_standing, one ledger entry per agent, one `slashes` row. Idempotent by slashId.
     */
    async slashAgent(input: SlashInput): Promise<SlashChange[]> {
      return recordSlash(deps.pool, input, ({ storedSigmas, vouches }) => {
        // A σ on record wins over the one the culprit presented in the session.
        const sigmas = { [input.culpritDid]: toMicro(input.culpritSigma), ...storedSigmas };
        return slashCascade({ culpritDid: input.culpritDid, sigmas, vouches, policy: input.policy, nowMs: input.nowMs })
          .changes;
      });
    },

    /** Shapley attribution of a saga that did not complete; recorded once per saga with ledger entries. */
    async attributeSagaFault(input: {
      sagaId: string;
      sessionId: string;
      /** As the saga workflow parsed it at its start. */
      definition: SagaDefinition;
      steps: Array<{ stepId: string; agentDid: string; state: string }>;
    }): Promise<{ agents: Record<string, number>; value: number; rootCause: string | null }> {
      const result = attributeSagaFault({ definition: input.definition, steps: input.steps });
      await insertFaultAttribution(deps.pool, input, result);
      return result;
    },
  };
}

import type { Json } from '../domain/audit-chain.js';
import {
  LEDGER_SEVERITY,
  attributeSagaFault,
  riskProfile,
  slashCascade,
  toMicro,
  type LedgerEntryType,
  type LiabilityPolicy,
  type Micro,
  type Vouch,
} from '../domain/liability.js';
import { parseSagaDefinition, type SagaDefinitionInput } from '../domain/saga-dsl.js';
import type { Pool, PoolClient } from './db.js';
import { withTransaction } from './db.js';

/** Exact decimal text of a micro-unit amount, for numeric(7,6) columns. */
const decimal = (m: Micro): string => (m / 1e6).toFixed(6);
const micro = (text: string | number): Micro => toMicro(Number(text));

/** An agent's standing as join sees it. */
export interface Standing {
  /** σ after slashes, or null when the hypervisor never changed it (the agent's presented σ then applies). */
  sigma: number | null;
  blacklisted: boolean;
  riskScore: number;
  recommendation: 'admit' | 'probation' | 'deny';
  entries: number;
}

export interface LedgerEntry {
  agentDid: string;
  entryType: LedgerEntryType;
  sessionId: string;
  severity: number;
  details: Json;
  relatedAgent: string | null;
  createdAt: string;
}

async function appendLedger(
  db: Pick<PoolClient, 'query'>,
  entries: Array<{
    key: string;
    agentDid: string;
    entryType: LedgerEntryType;
    sessionId?: string;
    severity?: number;
    details?: Json;
    relatedAgent?: string | null;
  }>,
): Promise<void> {
  for (const e of entries)
    await db.query(
      `INSERT INTO liability_ledger (agent_did, entry_type, session_id, severity, details, related_agent, entry_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (entry_key) DO NOTHING`,
      [
        e.agentDid,
        e.entryType,
        e.sessionId ?? '',
        decimal(toMicro(e.severity ?? 0)),
        JSON.stringify(e.details ?? {}),
        e.relatedAgent ?? null,
        e.key,
      ],
    );
}

export async function readStanding(db: Pick<Pool, 'query'>, agentDid: string): Promise<Standing> {
  const [standing, ledger] = await Promise.all([
    db.query<{ sigma: string | null; blacklisted: boolean }>(
      'SELECT sigma, blacklisted FROM agent_standing WHERE agent_did = $1',
      [agentDid],
    ),
    db.query<{ entry_type: LedgerEntryType; severity: string }>(
      'SELECT entry_type, severity FROM liability_ledger WHERE agent_did = $1',
      [agentDid],
    ),
  ]);
  const row = standing.rows[0];
  const blacklisted = row?.blacklisted ?? false;
  const profile = riskProfile(
    ledger.rows.map((r) => ({ entryType: r.entry_type, severity: Number(r.severity) })),
    { blacklisted },
  );
  return {
    sigma: row?.sigma == null ? null : Number(row.sigma),
    blacklisted,
    riskScore: profile.riskScore,
    recommendation: profile.recommendation,
    entries: ledger.rows.length,
  };
}

export async function readLedger(db: Pick<Pool, 'query'>, agentDid: string): Promise<LedgerEntry[]> {
  const { rows } = await db.query<{
    agent_did: string;
    entry_type: LedgerEntryType;
    session_id: string;
    severity: string;
    details: Json;
    related_agent: string | null;
    created_at: Date;
  }>('SELECT * FROM liability_ledger WHERE agent_did = $1 ORDER BY id', [agentDid]);
  return rows.map((r) => ({
    agentDid: r.agent_did,
    entryType: r.entry_type,
    sessionId: r.session_id,
    severity: Number(r.severity),
    details: r.details,
    relatedAgent: r.related_agent,
    createdAt: r.created_at.toISOString(),
  }));
}

async function sessionVouches(db: Pick<PoolClient, 'query'>, sessionId: string): Promise<Vouch[]> {
  const { rows } = await db.query<{
    vouch_id: string;
    session_id: string;
    voucher_did: string;
    vouchee_did: string;
    voucher_sigma: string;
    bond: string;
    created_at: Date;
    expires_at: Date | null;
    released_at: Date | null;
  }>('SELECT * FROM vouches WHERE session_id = $1', [sessionId]);
  return rows.map((r) => ({
    vouchId: r.vouch_id,
    sessionId: r.session_id,
    voucherDid: r.voucher_did,
    voucheeDid: r.vouchee_did,
    voucherSigma: micro(r.voucher_sigma),
    bond: micro(r.bond),
    createdAtMs: r.created_at.getTime(),
    expiresAtMs: r.expires_at?.getTime() ?? null,
    releasedAtMs: r.released_at?.getTime() ?? null,
  }));
}

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

export type SlashOutcome = ReturnType<typeof slashCascade>['changes'];

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
      await appendLedger(deps.pool, [
        { ...input, severity: (LEDGER_SEVERITY as Partial<Record<LedgerEntryType, number>>)[input.entryType] ?? 0 },
      ]);
    },

    /** Mirrors a bond the session accepted into Postgres, with its two ledger entries. */
    async recordVouch(input: { vouch: Vouch }): Promise<void> {
      const v = input.vouch;
      await withTransaction(deps.pool, async (tx) => {
        await tx.query(
          `INSERT INTO vouches (vouch_id, session_id, voucher_did, vouchee_did, voucher_sigma, bond, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (vouch_id) DO NOTHING`,
          [
            v.vouchId,
            v.sessionId,
            v.voucherDid,
            v.voucheeDid,
            decimal(v.voucherSigma),
            decimal(v.bond),
            new Date(v.createdAtMs).toISOString(),
            v.expiresAtMs === null ? null : new Date(v.expiresAtMs).toISOString(),
          ],
        );
        const details = { vouchId: v.vouchId, bond: v.bond / 1e6 };
        await appendLedger(tx, [
          {
            key: `${v.vouchId}/given`,
            agentDid: v.voucherDid,
            entryType: 'vouch_given',
            sessionId: v.sessionId,
            details,
            relatedAgent: v.voucheeDid,
          },
          {
            key: `${v.vouchId}/received`,
            agentDid: v.voucheeDid,
            entryType: 'vouch_received',
            sessionId: v.sessionId,
            details,
            relatedAgent: v.voucherDid,
          },
        ]);
      });
    },

    /** Bonds end with their session. */
    async releaseSessionBonds(input: { sessionId: string; nowMs: number }): Promise<number> {
      return withTransaction(deps.pool, async (tx) => {
        const { rows } = await tx.query<{ vouch_id: string; voucher_did: string; vouchee_did: string }>(
          `UPDATE vouches SET released_at = $2 WHERE session_id = $1 AND released_at IS NULL
           RETURNING vouch_id, voucher_did, vouchee_did`,
          [input.sessionId, new Date(input.nowMs).toISOString()],
        );
        await appendLedger(
          tx,
          rows.map((r) => ({
            key: `${r.vouch_id}/released`,
            agentDid: r.voucher_did,
            entryType: 'vouch_released' as const,
            sessionId: input.sessionId,
            details: { vouchId: r.vouch_id },
            relatedAgent: r.vouchee_did,
          })),
        );
        return rows.length;
      });
    },

    /**
     * Slashes a culprit and cascades to its vouchers in the session (reference §5.3), in one transaction: σ changes in
     * agent_standing, one ledger entry per agent, one `slashes` row. Idempotent by slashId.
     */
    async slashAgent(input: SlashInput): Promise<SlashOutcome> {
      return withTransaction(deps.pool, async (tx) => {
        const done = await tx.query<{ changes: SlashOutcome }>('SELECT changes FROM slashes WHERE slash_id = $1', [
          input.slashId,
        ]);
        if (done.rows[0]) return done.rows[0].changes;
        // Serialise slashes touching the same agents: a cascade reads and writes several standings.
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`slash:${input.sessionId}`]);
        const vouches = await sessionVouches(tx, input.sessionId);
        const involved = [...new Set([input.culpritDid, ...vouches.flatMap((v) => [v.voucherDid, v.voucheeDid])])];
        const { rows } = await tx.query<{ agent_did: string; sigma: string | null }>(
          'SELECT agent_did, sigma FROM agent_standing WHERE agent_did = ANY($1) FOR UPDATE',
          [involved],
        );
        const sigmas: Record<string, Micro> = { [input.culpritDid]: toMicro(input.culpritSigma) };
        for (const r of rows) if (r.sigma !== null) sigmas[r.agent_did] = micro(r.sigma);
        const { changes } = slashCascade({
          culpritDid: input.culpritDid,
          sigmas,
          vouches,
          policy: input.policy,
          nowMs: input.nowMs,
        });
        for (const c of changes) {
          await tx.query(
            `INSERT INTO agent_standing (agent_did, sigma, blacklisted, updated_at) VALUES ($1, $2, $3, now())
             ON CONFLICT (agent_did) DO UPDATE SET sigma = EXCLUDED.sigma,
               blacklisted = agent_standing.blacklisted OR EXCLUDED.blacklisted, updated_at = now()`,
            [c.agentDid, decimal(c.after), c.kind === 'slash_received'],
          );
        }
        await appendLedger(
          tx,
          changes.map((c) => ({
            key: `${input.slashId}/${c.agentDid}`,
            agentDid: c.agentDid,
            entryType: c.kind,
            sessionId: input.sessionId,
            severity: LEDGER_SEVERITY[c.kind],
            details: { slashId: input.slashId, reason: input.reason, before: c.before / 1e6, after: c.after / 1e6 },
            relatedAgent: c.via,
          })),
        );
        await tx.query(
          'INSERT INTO slashes (slash_id, session_id, culprit_did, reason, changes) VALUES ($1, $2, $3, $4, $5)',
          [input.slashId, input.sessionId, input.culpritDid, input.reason, JSON.stringify(changes)],
        );
        return changes;
      });
    },

    /** Shapley attribution of a saga that did not complete; recorded once per saga with ledger entries. */
    async attributeSagaFault(input: {
      sagaId: string;
      sessionId: string;
      definition: SagaDefinitionInput;
      steps: Array<{ stepId: string; agentDid: string; state: string }>;
    }): Promise<{ agents: Record<string, number>; value: number; rootCause: string | null }> {
      const result = attributeSagaFault({ definition: parseSagaDefinition(input.definition), steps: input.steps });
      await withTransaction(deps.pool, async (tx) => {
        await tx.query(
          `INSERT INTO fault_attributions (saga_id, session_id, shares, value, root_cause) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (saga_id) DO NOTHING`,
          [input.sagaId, input.sessionId, JSON.stringify(result.agents), result.value, result.rootCause],
        );
        await appendLedger(
          tx,
          Object.entries(result.agents)
            .filter(([, share]) => share > 0)
            .map(([agentDid, share]) => ({
              key: `${input.sagaId}/fault/${agentDid}`,
              agentDid,
              entryType: 'fault_attributed' as const,
              sessionId: input.sessionId,
              // The stated severity, scaled by the agent's part of the fault.
              severity: LEDGER_SEVERITY.fault_attributed * (result.value > 0 ? share / result.value : 0),
              details: { sagaId: input.sagaId, share, value: result.value },
            })),
        );
      });
      return result;
    },
  };
}

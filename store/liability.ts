import type { Json } from '../domain/audit-chain.js';
import {
  blacklists,
  faultSeverities,
  fromMicro,
  ledgerSeverity,
  toMicro,
  type LedgerEntryType,
  type Micro,
  type SagaFaultAttribution,
  type SlashChange,
  type Vouch,
} from '../domain/liability.js';
import { standingOf, type Standing, type StandingFacts } from '../domain/standing.js';
import { withTransaction, type Pool, type Queryable } from './db.js';

/** Exact decimal text of a micro-unit amount, for numeric(7,6) columns. */
const decimal = (m: Micro): string => fromMicro(m).toFixed(6);
const micro = (text: string | number): Micro => toMicro(Number(text));

/** A ledger row as stored. */
export interface LedgerEntry {
  agentDid: string;
  entryType: LedgerEntryType;
  sessionId: string;
  severity: number;
  details: Json;
  relatedAgent: string | null;
  createdAt: string;
}

/** A ledger row to write; `key` makes the write idempotent. */
export interface LedgerWrite {
  key: string;
  agentDid: string;
  entryType: LedgerEntryType;
  sessionId?: string;
  severity?: number;
  details?: Json;
  relatedAgent?: string | null;
}

/** Appends ledger entries; an entry whose key is already stored is skipped, so retries never double-count. */
export async function appendLedger(db: Queryable, entries: readonly LedgerWrite[]): Promise<void> {
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

/** An agent's stored σ, blacklist flag and ledger: what its standing is judged from. */
async function readStandingFacts(db: Queryable, agentDid: string): Promise<StandingFacts> {
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
  return {
    sigma: row?.sigma == null ? null : Number(row.sigma),
    blacklisted: row?.blacklisted ?? false,
    ledger: ledger.rows.map((r) => ({ entryType: r.entry_type, severity: Number(r.severity) })),
  };
}

/** An agent's standing: its stored facts judged by {@link standingOf}. */
export const readStanding = async (db: Queryable, agentDid: string): Promise<Standing> =>
  standingOf(await readStandingFacts(db, agentDid));

/** An agent's ledger, oldest entry first. */
export async function readLedger(db: Queryable, agentDid: string): Promise<LedgerEntry[]> {
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

async function sessionVouches(db: Queryable, sessionId: string): Promise<Vouch[]> {
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

/** Stores a bond with its two ledger entries (given, received), once per vouch id. */
export async function insertVouch(pool: Pool, v: Vouch): Promise<void> {
  await withTransaction(pool, async (tx) => {
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
    const details = { vouchId: v.vouchId, bond: fromMicro(v.bond) };
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
}

/** Marks a session's open bonds released at `nowMs`, with a ledger entry each; returns how many. */
export async function releaseSessionBonds(pool: Pool, sessionId: string, nowMs: number): Promise<number> {
  return withTransaction(pool, async (tx) => {
    const { rows } = await tx.query<{ vouch_id: string; voucher_did: string; vouchee_did: string }>(
      `UPDATE vouches SET released_at = $2 WHERE session_id = $1 AND released_at IS NULL
       RETURNING vouch_id, voucher_did, vouchee_did`,
      [sessionId, new Date(nowMs).toISOString()],
    );
    await appendLedger(
      tx,
      rows.map((r) => ({
        key: `${r.vouch_id}/released`,
        agentDid: r.voucher_did,
        entryType: 'vouch_released' as const,
        sessionId,
        details: { vouchId: r.vouch_id },
        relatedAgent: r.vouchee_did,
      })),
    );
    return rows.length;
  });
}

/** What a slash decision is made from: the stored σ of every agent involved, and the session's vouches. */
export interface SlashFacts {
  /** Stored σ by agent; agents the hypervisor never changed are absent. */
  storedSigmas: Record<string, Micro>;
  vouches: Vouch[];
}

/**
 * Records a slash in one transaction, idempotent by `slashId` (a retry returns the stored changes): reads the facts
 * under lock, lets `decide` compute the σ changes, then writes the standings, one ledger entry per agent and the
 * `slashes` row.
 */
export async function recordSlash(
  pool: Pool,
  slash: { slashId: string; sessionId: string; culpritDid: string; reason: string },
  decide: (facts: SlashFacts) => SlashChange[],
): Promise<SlashChange[]> {
  return withTransaction(pool, async (tx) => {
    const done = await tx.query<{ changes: SlashChange[] }>('SELECT changes FROM slashes WHERE slash_id = $1', [
      slash.slashId,
    ]);
    if (done.rows[0]) return done.rows[0].changes;
    // Serialise slashes touching the same agents: a cascade reads and writes several standings.
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`slash:${slash.sessionId}`]);
    const vouches = await sessionVouches(tx, slash.sessionId);
    const involved = [...new Set([slash.culpritDid, ...vouches.flatMap((v) => [v.voucherDid, v.voucheeDid])])];
    const { rows } = await tx.query<{ agent_did: string; sigma: string | null }>(
      'SELECT agent_did, sigma FROM agent_standing WHERE agent_did = ANY($1) FOR UPDATE',
      [involved],
    );
    const storedSigmas: Record<string, Micro> = {};
    for (const r of rows) if (r.sigma !== null) storedSigmas[r.agent_did] = micro(r.sigma);
    const changes = decide({ storedSigmas, vouches });
    for (const c of changes) {
      await tx.query(
        `INSERT INTO agent_standing (agent_did, sigma, blacklisted, updated_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (agent_did) DO UPDATE SET sigma = EXCLUDED.sigma,
           blacklisted = agent_standing.blacklisted OR EXCLUDED.blacklisted, updated_at = now()`,
        [c.agentDid, decimal(c.after), blacklists(c)],
      );
    }
    await appendLedger(
      tx,
      changes.map((c) => ({
        key: `${slash.slashId}/${c.agentDid}`,
        agentDid: c.agentDid,
        entryType: c.kind,
        sessionId: slash.sessionId,
        severity: ledgerSeverity(c.kind),
        details: {
          slashId: slash.slashId,
          reason: slash.reason,
          before: fromMicro(c.before),
          after: fromMicro(c.after),
        },
        relatedAgent: c.via,
      })),
    );
    await tx.query(
      'INSERT INTO slashes (slash_id, session_id, culprit_did, reason, changes) VALUES ($1, $2, $3, $4, $5)',
      [slash.slashId, slash.sessionId, slash.culpritDid, slash.reason, JSON.stringify(changes)],
    );
    return changes;
  });
}

/** Stores a saga's fault attribution once, with a `fault_attributed` ledger entry per agent at fault. */
export async function insertFaultAttribution(
  pool: Pool,
  saga: { sagaId: string; sessionId: string },
  attribution: SagaFaultAttribution,
): Promise<void> {
  await withTransaction(pool, async (tx) => {
    await tx.query(
      `INSERT INTO fault_attributions (saga_id, session_id, shares, value, root_cause) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (saga_id) DO NOTHING`,
      [saga.sagaId, saga.sessionId, JSON.stringify(attribution.agents), attribution.value, attribution.rootCause],
    );
    await appendLedger(
      tx,
      faultSeverities(attribution).map(({ agentDid, share, severity }) => ({
        key: `${saga.sagaId}/fault/${agentDid}`,
        agentDid,
        entryType: 'fault_attributed' as const,
        sessionId: saga.sessionId,
        severity,
        details: { sagaId: saga.sagaId, share, value: attribution.value },
      })),
    );
  });
}

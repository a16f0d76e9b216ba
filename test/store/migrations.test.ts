import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { MIGRATIONS_TABLE, runMigrations } from '../../store/migrate.js';

let client: pg.Client;
beforeAll(async () => {
  client = new pg.Client({ connectionString: inject('databaseUrl') });
  await client.connect();
});
afterAll(async () => {
  await client.end();
});

describe('migrations on the throwaway PostgreSQL', () => {
  it('created the audit tables', async () => {
    const { rows } = await client.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
    );
    expect(rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['audit_entries', 'session_commitments', MIGRATIONS_TABLE]),
    );
  });

  it('applies nothing the second time', async () => {
    expect(await runMigrations(inject('databaseUrl'))).toEqual([]);
  });

  const insertRow = (sessionId: string) =>
    client.query(
      `INSERT INTO audit_entries (session_id, seq, format, kind, agent_did, payload_hash, payload, recorded_at_ms,
                                  recorded_at, workflow_id, run_id, prev_hash, hash)
       VALUES ($1, 1, 'hv-audit-v1', 'join', NULL, $2, '{}', 0, now(), 'session:x', 'run', $3, $4)`,
      [sessionId, 'b'.repeat(64), '0'.repeat(64), 'a'.repeat(64)],
    );

  it('keeps audit rows unique per (session_id, seq)', async () => {
    await insertRow('s-unique');
    await expect(insertRow('s-unique')).rejects.toThrow(/duplicate key/);
  });

  it('makes audit rows append-only: no delete, no edit, only a payload purge', async () => {
    await insertRow('s-append-only');
    const where = `WHERE session_id = 's-append-only' AND seq = 1`;
    await expect(client.query(`DELETE FROM audit_entries ${where}`)).rejects.toThrow(/append-only/);
    await expect(client.query(`UPDATE audit_entries SET kind = 'leave' ${where}`)).rejects.toThrow(/append-only/);
    await expect(
      client.query(`UPDATE audit_entries SET payload = NULL, kind = 'leave', payload_purged_at = now() ${where}`),
    ).rejects.toThrow(/append-only/);
    await expect(client.query(`UPDATE audit_entries SET payload = NULL ${where}`)).rejects.toThrow(/append-only/);
    const purged = await client.query(`UPDATE audit_entries SET payload = NULL, payload_purged_at = now() ${where}`);
    expect(purged.rowCount).toBe(1);
  });
});

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { MIGRATIONS_TABLE, runMigrations } from '../../worker/migrate.js';

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

  it('keeps audit rows unique per (session_id, seq)', async () => {
    const row = ['s-unique', 1, 'join', null, '{}', '0'.repeat(64), 'a'.repeat(64), new Date()];
    await client.query(
      `INSERT INTO audit_entries (session_id, seq, kind, agent_did, payload, prev_hash, hash, recorded_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
      row,
    );
    await expect(
      client.query(
        `INSERT INTO audit_entries (session_id, seq, kind, agent_did, payload, prev_hash, hash, recorded_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
        row,
      ),
    ).rejects.toThrow(/duplicate key/);
  });
});

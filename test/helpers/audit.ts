import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { inject } from 'vitest';
import { TrustedKeys, generateSigningKeyPem, signerFromPem } from '../../store/audit-crypto.js';
import { createCheckpointSink } from '../../store/checkpoint-sink.js';
import { generateInternalKey, internalSignerFromPem } from '../../store/internal-crypto.js';
import { createActivities, type ActivityDeps } from '../../activities/index.js';
import { testAdminEntry } from './operators.js';

let pool: pg.Pool | undefined;

/** One pool per test process on the throwaway database; idle clients never keep the fork alive. */
export function testPool(): pg.Pool {
  pool ??= new pg.Pool({ connectionString: inject('databaseUrl'), max: 6, allowExitOnIdle: true });
  return pool;
}

const keys = generateSigningKeyPem();
/** The signing key every test worker in this process uses, and the trust set that accepts it. */
export const testSigner = signerFromPem(keys.privatePem);
export const testPublicKeyPem = keys.publicPem;
export const testPrivateKeyPem = keys.privatePem;
export const trustedTestKeys = (): TrustedKeys => TrustedKeys.fromPems([keys.publicPem]);

/**
 * The internal key of every worker of this test run (the global setup generates one and sets
 * `HV_INTERNAL_SIGNING_KEY`, which spawned workers inherit); a fresh one when a file runs without the setup.
 */
export const testInternalKeyPem = process.env.HV_INTERNAL_SIGNING_KEY ?? generateInternalKey().privatePem;
export const testInternalSigner = internalSignerFromPem(testInternalKeyPem);

/** Checkpoint directory of this test process. */
export const testCheckpointDir = mkdtempSync(path.join(tmpdir(), 'hv-checkpoints-'));

let client: Promise<Client> | undefined;
/** A Temporal client for activities that call workflows (saga authorization), one per test process. */
export const testTemporalClient = (): Promise<Client> =>
  (client ??= Connection.connect({ address: inject('temporalAddress') }).then(
    (connection) => new Client({ connection }),
  ));

/** How tests verify a session's chain: from the test database, against the test key and checkpoints, signed. */
export const verifyOptions = () => ({
  pool: testPool(),
  trustedKeys: trustedTestKeys(),
  checkpointDir: testCheckpointDir,
  requireSignatures: true,
});

/** The real activities against the test database, signing with the test key, checkpoints to the test directory. */
export const testActivities = (overrides: Partial<ActivityDeps> = {}) =>
  createActivities({
    pool: testPool(),
    signer: testSigner,
    internal: testInternalSigner,
    checkpointSink: createCheckpointSink(testCheckpointDir),
    temporal: testTemporalClient,
    operatorBootstrap: testAdminEntry,
    ...overrides,
  });

/**
 * Runs statements as an attacker with superuser rights would: with triggers off for this transaction only
 * (`session_replication_role = replica`), so the append-only guard does not stop them and other tests are unaffected.
 */
export async function tamper(fn: (db: pg.PoolClient) => Promise<unknown>): Promise<void> {
  const db = await testPool().connect();
  try {
    await db.query('BEGIN');
    await db.query('SET LOCAL session_replication_role = replica');
    await fn(db);
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK');
    throw err;
  } finally {
    db.release();
  }
}

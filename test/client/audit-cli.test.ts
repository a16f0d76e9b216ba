import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hvEnv, runHv } from '../helpers/cli.js';
import { tamper, testCheckpointDir, testPublicKeyPem } from '../helpers/audit.js';
import { allActions, did, newSession } from '../helpers/session.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
let dir: string;
beforeAll(async () => {
  ctx = await connectTestTemporal();
  dir = await mkdtemp(path.join(tmpdir(), 'hv-cli-'));
  await writeFile(path.join(dir, 'audit.pub.pem'), testPublicKeyPem);
});
afterAll(async () => {
  await ctx.close();
});

/** Runs the `hv` CLI as a user would, against the test servers. */
const hv = (...args: string[]) =>
  runHv(
    args,
    hvEnv({ HV_AUDIT_PUBLIC_KEY_FILE: path.join(dir, 'audit.pub.pem'), HV_CHECKPOINT_SINK: testCheckpointDir }),
  );

describe('hv audit', () => {
  it('verifies, exports and reports tampering with the exit codes scripts rely on', async () => {
    const taskQueue = uniqueTaskQueue('audit-cli');
    const { session, commitment } = await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue, { enableBlockchainCommitment: true });
      await session.join({ agentDid: did('a'), sigmaRaw: 0.9, actions: allActions });
      await session.activate();
      return { session, commitment: await session.terminate() };
    });

    const verified = await hv('audit', 'verify', session.sessionId);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain(`VERIFIED — ${commitment.entryCount} entries`);
    expect(verified.stdout).toMatch(/ok {2}commitment: \d+ entries, root [0-9a-f]{16}…, signature valid/);
    expect(verified.stdout).toContain('workflow result');

    const exported = await hv('audit', 'export', session.sessionId);
    expect(exported.code).toBe(0);
    const lines = exported.stdout.trim().split('\n');
    expect(lines).toHaveLength(commitment.entryCount);
    const entries = lines.map((line) => JSON.parse(line) as { seq: number; kind: string; hash: string });
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: commitment.entryCount }, (_, i) => i + 1));
    expect(entries[0]).toMatchObject({ kind: 'session_created' });
    expect(entries.at(-1)?.hash).toBe(commitment.root);
    const file = path.join(dir, 'export.jsonl');
    expect((await hv('audit', 'export', session.sessionId, '--out', file)).code).toBe(0);
    expect(await readFile(file, 'utf8')).toBe(exported.stdout);

    // Offline: the export verifies against the external checkpoints, and a doctored copy does not.
    const offline = await hv('audit', 'verify-file', file);
    expect(offline.code, offline.stdout).toBe(0);
    expect(offline.stdout).toContain('VERIFIED');
    const doctored = path.join(dir, 'doctored.jsonl');
    const exportedLines = exported.stdout.trim().split('\n');
    const victim = JSON.parse(exportedLines[2]!) as Record<string, unknown>;
    exportedLines[2] = JSON.stringify({ ...victim, agentDid: 'did:mesh:someone-else' });
    await writeFile(doctored, exportedLines.join('\n'));
    const caught = await hv('audit', 'verify-file', doctored, '--json');
    expect(caught.code).toBe(6);
    expect(JSON.parse(caught.stdout)).toMatchObject({ firstBad: { kind: 'modified', seq: 3 } });

    await tamper((db) => db.query(`DELETE FROM audit_entries WHERE session_id = $1 AND seq = 2`, [session.sessionId]));
    const failed = await hv('audit', 'verify', session.sessionId, '--json');
    expect(failed.code).toBe(6);
    const report = JSON.parse(failed.stdout) as { ok: boolean; firstBad: { kind: string; seq: number } };
    expect(report).toMatchObject({ ok: false, firstBad: { kind: 'missing', seq: 2 } });
    const human = await hv('audit', 'verify', session.sessionId);
    expect(human.stdout).toContain('first bad entry: 2');
  });

  it('exits 3 for a session the store has never seen and 2 for a bad retention period', async () => {
    const missing = await hv('audit', 'verify', 'no-such-session', '--offline');
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('[NotFound]');
    expect((await hv('audit', 'export', 'no-such-session')).code).toBe(3);
    const bad = await hv('audit', 'purge', '--retention-days', '0');
    expect(bad.code).toBe(2);
    const purge = await hv('audit', 'purge', '--retention-days', '36500', '--json');
    expect(purge.code).toBe(0);
    expect(JSON.parse(purge.stdout)).toEqual({ retentionDays: 36500, purged: 0 });
  });
});

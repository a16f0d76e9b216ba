import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../store/paths.js';
import { did } from '../helpers/session.js';
import { startFileWorker, startTestApi, type TestApi } from '../helpers/api.js';
import { connectTestTemporal, uniqueTaskQueue, type TemporalTestContext } from '../helpers/temporal.js';

/** python3 with `requests`, or why not. */
function python(): string | null {
  try {
    execFileSync('python3', ['-c', 'import requests'], { stdio: 'ignore' });
    return null;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'python3 is not installed' : 'python3 has no requests';
  }
}
const missing = python();

let ctx: TemporalTestContext;
let api: TestApi;
let worker: { stop(): Promise<void> };
beforeAll(async () => {
  if (missing) return;
  ctx = await connectTestTemporal();
  const taskQueue = uniqueTaskQueue('api-python');
  worker = await startFileWorker(ctx, taskQueue);
  api = await startTestApi(ctx, taskQueue);
});
afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await ctx?.close();
});

describe.skipIf(missing !== null)(`examples/agent.py${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('acts as an agent over plain HTTP: join, an allowed and a denied action, state, refused impersonation, events', async () => {
    const agent = did('python');
    const key = await api.key(agent);
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        'python3',
        [path.join(projectRoot, 'examples', 'agent.py')],
        { env: { ...process.env, HV_API_URL: api.url, HV_API_KEY: key }, timeout: 60_000 },
        (err, out, errText) => (err ? reject(new Error(`${err.message}\n${errText}`)) : resolve(out)),
      ),
    );
    const steps = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { step: string; result: any });
    const result = (name: string) => steps.find((s) => s.step === name)?.result;
    expect(result('join')).toMatchObject({ agentDid: agent, ring: 2 });
    expect(result('authorize read-docs')).toMatchObject({ allowed: true });
    expect(result('authorize deploy')).toMatchObject({ allowed: false, reason: 'ring_violation' });
    expect(result('read')).toBe('hello from python');
    expect(result('impersonation')).toEqual({ status: 403, errorType: 'PermissionDenied' });
    const kinds = steps.filter((s) => s.step === 'event').map((s) => s.result.kind);
    expect(kinds[0]).toBe('session_created');
    expect(kinds.filter((k) => k === 'decision')).toHaveLength(2);
    const sessionId = result('done') as string;
    const view = await api.call('GET', `/sessions/${sessionId}`, { key });
    expect(view.body).toMatchObject({ creatorDid: agent, state: 'active' });
  });
});

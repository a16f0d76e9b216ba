import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportAuditEntries } from '../../client/audit.js';
import { testPool } from '../helpers/audit.js';
import { actions, allActions, did, eventually } from '../helpers/session.js';
import { startFileWorker, startTestApi, type TestApi } from '../helpers/api.js';
import { SseStream } from '../helpers/sse.js';
import { connectTestTemporal, uniqueTaskQueue, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
let api: TestApi;
let worker: { stop(): Promise<void> };

beforeAll(async () => {
  ctx = await connectTestTemporal();
  const taskQueue = uniqueTaskQueue('api-events');
  worker = await startFileWorker(ctx, taskQueue);
  api = await startTestApi(ctx, taskQueue);
});
afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await ctx.close();
});

const seqs = (stream: SseStream) => stream.events.map((e) => Number(e.id));
const oneToN = (n: number, from = 1) => Array.from({ length: n }, (_, i) => i + from);

describe('live events and the audit trail over HTTP', () => {
  it('streams persisted audit entries live, resumes from Last-Event-ID, ends with the session; tail, verify, export', async () => {
    const [alice, mallory] = [did('alice'), did('mallory')];
    const [aliceKey, malloryKey, opKey] = [
      await api.key(alice),
      await api.key(mallory),
      await api.key(did('op'), 'operator'),
    ];
    const id = (await api.call('POST', '/sessions', { key: aliceKey, body: {} })).body.sessionId as string;
    const auth = { authorization: `Bearer ${aliceKey}` };
    const stream = await SseStream.open(`${api.url}/sessions/${id}/events`, auth);
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    try {
      await stream.until((events) => events.some((e) => e.event === 'session_created'));
      for (const key of [aliceKey, malloryKey])
        await api.call('POST', `/sessions/${id}/join`, { key, body: { sigmaRaw: 0.9, actions: allActions } });
      await api.call('POST', `/sessions/${id}/activate`, { key: aliceKey, body: {} });

      // How long from a decision's answer to its entry on the stream (persisted by the outbox, then polled).
      const latencies: number[] = [];
      for (let i = 0; i < 5; i++) {
        const before = stream.events.filter((e) => e.event === 'decision').length;
        const asked = performance.now();
        const denied = await api.call('POST', `/sessions/${id}/authorize`, {
          key: malloryKey,
          body: { actionId: actions.deploy.actionId },
        });
        expect(denied.body.allowed).toBe(false);
        await stream.until((events) => events.filter((e) => e.event === 'decision').length > before);
        latencies.push(stream.events.at(-1)!.at - asked);
      }
      console.log(
        `[measure] authorize → SSE decision event: ${latencies.map((ms) => ms.toFixed(0)).join(', ')} ms (poll 50 ms)`,
      );

      const killed = await api.call('POST', `/sessions/${id}/kill`, {
        key: opKey,
        body: { agentDid: mallory, reason: 'manual', details: 'live' },
        sign: 'requestKill',
      });
      expect(killed.status).toBe(200);
      const kill = (await stream.until((events) => events.some((e) => e.event === 'kill'))).find(
        (e) => e.event === 'kill',
      )!;
      expect(JSON.parse(kill.data)).toMatchObject({ sessionId: id, kind: 'kill', agentDid: mallory });
      expect(seqs(stream)).toEqual(oneToN(stream.events.length));
    } finally {
      stream.close();
    }

    // Resuming with Last-Event-ID sends what came after, no duplicates, no gaps.
    const lastSeen = 3;
    const resumed = await SseStream.open(`${api.url}/sessions/${id}/events`, {
      ...auth,
      'last-event-id': String(lastSeen),
    });
    try {
      await resumed.until((events) => events.some((e) => e.event === 'kill'));
      expect(seqs(resumed)).toEqual(oneToN(resumed.events.length, lastSeen + 1));
    } finally {
      resumed.close();
    }

    // What an idle follower costs: one indexed range query per poll interval that finds nothing new.
    const polls = 200;
    const started = performance.now();
    for (let i = 0; i < polls; i++)
      for await (const _ of exportAuditEntries(testPool(), id, { afterSeq: 1_000_000 })) break;
    const perPoll = (performance.now() - started) / polls;
    console.log(`[measure] idle poll of the audit store: ${perPoll.toFixed(2)} ms per query`);
    expect(perPoll).toBeLessThan(50);

    const tail = await api.call('GET', `/sessions/${id}/audit?limit=3`, { key: aliceKey });
    expect(tail.status).toBe(200);
    expect(tail.body).toHaveLength(3);

    // The stream ends by itself at the session's last entry.
    const follower = await SseStream.open(`${api.url}/sessions/${id}/events`, auth);
    await follower.until((events) => events.some((e) => e.event === 'kill'));
    expect(
      (
        await api.call('POST', `/sessions/${id}/terminate`, {
          key: opKey,
          body: { reason: 'done' },
          sign: 'terminateSession',
        })
      ).status,
    ).toBe(200);
    await follower.done;
    expect(follower.events.at(-1)!.event).toBe('session_archived');
    expect(seqs(follower)).toEqual(oneToN(follower.events.length));

    const verified = await eventually(
      () => api.call('GET', `/sessions/${id}/audit/verify`, { key: aliceKey }),
      (r) => r.status === 200 && r.body.ok === true,
    );
    expect(verified.body).toMatchObject({ sessionId: id, ok: true, entries: follower.events.length });

    const exported = await fetch(`${api.url}/sessions/${id}/audit/export`, { headers: auth });
    expect(exported.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = (await exported.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; hash: string });
    expect(lines.map((l) => l.seq)).toEqual(oneToN(follower.events.length));
    expect(lines.map((l) => l.hash)).toEqual(follower.events.map((e) => (JSON.parse(e.data) as { hash: string }).hash));
    const after = await fetch(`${api.url}/sessions/${id}/audit/export?afterSeq=${lines.length - 2}`, { headers: auth });
    expect((await after.text()).trim().split('\n')).toHaveLength(2);
  });

  it('refuses an event stream for an unknown session with a problem, and without a credential', async () => {
    const key = await api.key(did('nobody'));
    const missing = await fetch(`${api.url}/sessions/no-such-session/events`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { errorType: string }).errorType).toBe('SessionNotFound');
    expect((await fetch(`${api.url}/sessions/no-such-session/events`)).status).toBe(401);
  });
});

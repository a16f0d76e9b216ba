import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { launch, type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../store/paths.js';
import { findOnPath } from '../../worker/go-tools.js';
import { did, eventually } from '../helpers/session.js';
import { startFileWorker, startTestApi, type TestApi } from '../helpers/api.js';
import { StepService } from '../helpers/step-service.js';
import { connectTestTemporal, uniqueTaskQueue, type TemporalTestContext } from '../helpers/temporal.js';

/** The page's DOM as the functions run in the browser see it (the project compiles without the DOM library). */
declare const document: {
  querySelectorAll(selector: string): Iterable<{ textContent: string | null; className: string }>;
  querySelector(selector: string): unknown;
};

const chromium = findOnPath('chromium', process.env);
if (process.env.HV_CI_STRICT && !chromium) throw new Error('HV_CI_STRICT: chromium missing (.ci/deploy-tools)');

const shots = path.join(projectRoot, 'test-results', 'ui');
const TEMPORAL_UI = 'http://temporal-ui.test:8233';
const WAIT = { timeout: 60_000 };

let ctx: TemporalTestContext;
let api: TestApi;
let worker: { stop(): Promise<void> };
let service: StepService;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

/** The dashboard in a real headless chromium, over the real API, worker, Temporal and Postgres (DESIGN §15.5). */
describe.skipIf(!chromium)('the dashboard in a browser', () => {
  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    ctx = await connectTestTemporal();
    const taskQueue = uniqueTaskQueue('api-dashboard');
    service = await StepService.start();
    worker = await startFileWorker(ctx, taskQueue, { stepBaseUrl: service.url });
    api = await startTestApi(ctx, taskQueue, {
      temporalUi: { baseUrl: TEMPORAL_UI, namespace: ctx.client.options.namespace },
    });
    browser = await launch({
      executablePath: chromium!,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.setViewport({ width: 1400, height: 1000 });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await worker?.stop();
    await service?.close();
    await ctx?.close();
  });

  const text = (selector: string) => page.$eval(selector, (n) => n.textContent ?? '');
  const waitText = (selector: string, needle: string) =>
    page.waitForFunction(
      (s, t) => [...document.querySelectorAll(s)].some((n) => (n.textContent ?? '').includes(t)),
      WAIT,
      selector,
      needle,
    );
  const shot = (name: string) => page.screenshot({ path: path.join(shots, name), fullPage: true });

  /** On a failure, the page as it was (a screenshot and its error line) for the report. */
  const onFailure = async (run: () => Promise<void>) => {
    try {
      await run();
    } catch (e) {
      await shot('failure.png').catch(() => undefined);
      const seen = await text('#error').catch(() => '?');
      throw new Error(`${String(e)}; page error line: ${seen}; page errors: ${pageErrors.join(' | ')}`, { cause: e });
    }
  };

  it(
    'follows a session live: decisions, a saga, a kill, liability, the kill switch and the audit',
    () =>
      onFailure(async () => {
        const opDid = did('ui-op');
        const opKey = await api.key(opDid, 'operator');
        const creatorKey = await api.key(did('ui-creator'));
        const id = (
          await api.call('POST', '/sessions', {
            key: creatorKey,
            body: { config: { breachPolicy: { baselineRate: 10_000 } } },
          })
        ).body.sessionId as string;
        const manifest = ['a', 'b', 'read'].map((s) => ({
          actionId: `act-${s}`,
          name: s,
          reversibility: 'full',
          undoApi: '/undo',
        }));
        const agents: Array<{ did: string; key: string }> = [];
        for (const name of ['one', 'two']) {
          const agentDid = did(name);
          const key = await api.key(agentDid);
          const joined = await api.call('POST', `/sessions/${id}/join`, {
            key,
            body: { sigmaRaw: 0.9, actions: manifest },
          });
          expect(joined.status, JSON.stringify(joined.body)).toBe(200);
          agents.push({ did: agentDid, key });
        }
        const [one, two] = agents as [{ did: string; key: string }, { did: string; key: string }];
        expect((await api.call('POST', `/sessions/${id}/activate`, { key: creatorKey, body: {} })).status).toBe(200);

        // Open the page, give it the operator key, open the session.
        await page.goto(`${api.url}/ui`);
        await page.type('#key', opKey);
        // Temporal's visibility store lists a new session after a moment: connect again (reload the list) until it is in.
        await page.waitForFunction(
          (sid) => {
            if (document.querySelector(`li[data-id="${sid}"]`)) return true;
            (document.querySelector('#connect') as { click(): void }).click();
            return false;
          },
          { ...WAIT, polling: 1000 },
          id,
        );
        await page.click(`li[data-id="${id}"]`);
        await waitText('#participants tr', two.did);
        await waitText('#audit', 'verified');
        expect(await text('#audit')).toMatch(/^verified · \d+ entries/);
        const link = await page.$eval('#summary a.temporal', (a) => (a as unknown as { href: string }).href);
        expect(link).toBe(
          `${TEMPORAL_UI}/namespaces/${ctx.client.options.namespace}/workflows/${encodeURIComponent(`session:${id}`)}`,
        );

        // An agent acts while the page follows: the decision shows up live.
        const allowed = await api.call('POST', `/sessions/${id}/authorize`, {
          key: one.key,
          body: { actionId: 'act-read' },
        });
        expect(allowed.status, JSON.stringify(allowed.body)).toBe(200);
        await waitText('#events .event', `decision ${one.did} ALLOWED act-read`);
        await shot('session-live.png');

        // A saga of two steps: it appears from its saga_launched entry, and its step timeline shows both committed.
        const step = (s: string) => ({
          id: s,
          action_id: `act-${s}`,
          agent: one.did,
          execute_api: `/${s}/do`,
          undo_api: `/${s}/undo`,
        });
        const definition = { name: 'ui-saga', session_id: id, steps: [step('a'), step('b')] };
        const started = await api.call('POST', '/sagas', {
          key: one.key,
          body: { definition, options: { retryInitialIntervalMs: 50, heartbeatTimeoutMs: 2000 } },
        });
        expect(started.status, JSON.stringify(started.body)).toBe(201);
        const sagaId = started.body.sagaId as string;
        await eventually(
          () => api.call('GET', `/sagas/${sagaId}`, { key: opKey }),
          (r) => r.status === 200 && r.body.status === 'completed',
          60_000,
        );
        await page.waitForSelector(`#sagas button[data-saga="${sagaId}"]`, WAIT);
        await page.click(`#sagas button[data-saga="${sagaId}"]`);
        await page.waitForFunction(
          () =>
            [...document.querySelectorAll('#saga-steps tbody tr')].filter((r) => r.className === 'committed').length ===
            2,
          WAIT,
        );
        expect(await page.$$eval('#saga-steps .bar', (bars) => bars.length)).toBe(2);
        expect(await page.$eval('#saga a.temporal', (a) => (a as unknown as { href: string }).href)).toContain(
          encodeURIComponent(`saga:${sagaId}`),
        );
        await shot('saga.png');

        // An operator kills agent two: the kill shows red in the stream and the participant's row turns killed.
        const killed = await api.call('POST', `/sessions/${id}/kill`, {
          key: opKey,
          body: { agentDid: two.did, reason: 'manual', details: 'browser test' },
          sign: 'requestKill',
        });
        expect(killed.status, JSON.stringify(killed.body)).toBe(200);
        await waitText('#events .event.killed', `kill ${two.did}`);
        await page.waitForFunction(
          (d) => [...document.querySelectorAll('#participants tr.killed')].some((r) => r.textContent?.includes(d)),
          WAIT,
          two.did,
        );
        await shot('after-kill.png');

        // Liability: both agents' standing rows render.
        await waitText('#liability tr', one.did);
        await waitText('#liability tr', two.did);
        await page.$eval('#liability', (n) => n.scrollIntoView());
        await shot('liability.png');

        // Kill switch: an operator enables and trips agent one's switch; the page shows the block and an unblock
        // button; the unblock (signed, through the API) clears it on the page.
        const ks = `/agents/${encodeURIComponent(one.did)}/kill-switch`;
        const configured = await api.call('PUT', `${ks}/config`, {
          key: opKey,
          body: { enabled: true },
          sign: 'configureKillSwitch',
        });
        expect(configured.status, JSON.stringify(configured.body)).toBe(200);
        const tripped = await api.call('POST', `${ks}/trip`, {
          key: opKey,
          body: { reason: 'incident' },
          sign: 'tripKillSwitch',
        });
        expect(tripped.status, JSON.stringify(tripped.body)).toBe(200);
        await page.waitForSelector(`#killswitch button[data-unblock="${one.did}"]`, WAIT);
        expect(await text('#killswitch')).toContain('BLOCKED (operator: incident)');
        await page.$eval('#killswitch', (n) => n.scrollIntoView());
        await shot('kill-switch.png');
        const unblocked = await api.call('POST', `${ks}/unblock`, {
          key: opKey,
          body: { reason: 'resolved' },
          sign: 'unblockKillSwitch',
        });
        expect(unblocked.status, JSON.stringify(unblocked.body)).toBe(200);
        await page.click('#verify');
        await page.waitForFunction(() => !document.querySelector('#killswitch button[data-unblock]'), WAIT);
        await waitText('#audit', 'verified');
        expect(await text('#error')).toBe('');
        expect(pageErrors).toEqual([]);
      }),
    300_000,
  );
});

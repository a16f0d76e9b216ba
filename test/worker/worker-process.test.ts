import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { ConfigError } from '../../store/config.js';
import { loadWorkerEnv } from '../../worker/config.js';
import { RETENTION_SCHEDULE_ID } from '../../worker/retention-schedule.js';
import { localHttpUrl } from '../../worker/http.js';
import { freePort } from '../../worker/processes.js';
import { startWorker, type RunningWorker } from '../../worker/worker.js';
import { testInternalKeyPem } from '../helpers/audit.js';
import { uniqueTaskQueue } from '../helpers/temporal.js';

describe('worker configuration', () => {
  it('applies defaults and coerces ports', () => {
    const env = loadWorkerEnv({ DATABASE_URL: 'postgres://u:p@localhost:5432/db', HV_HTTP_PORT: '8080' });
    expect(env).toMatchObject({
      TEMPORAL_TASK_QUEUE: 'agent-hypervisor',
      HV_HTTP_PORT: 8080,
      HV_MIGRATE_ON_START: true,
    });
  });

  it('binds HTTP to every interface unless HV_HTTP_HOST names an address or host', () => {
    const base = { DATABASE_URL: 'postgres://u:p@localhost:5432/db' };
    expect(loadWorkerEnv(base).HV_HTTP_HOST).toBe('0.0.0.0');
    for (const host of ['127.0.0.1', '::1', '10.1.2.3', 'metrics.internal'])
      expect(loadWorkerEnv({ ...base, HV_HTTP_HOST: host }).HV_HTTP_HOST).toBe(host);
    for (const host of ['', 'http://0.0.0.0', '0.0.0.0:9464', 'two words'])
      expect(() => loadWorkerEnv({ ...base, HV_HTTP_HOST: host }), host).toThrow(
        /HV_HTTP_HOST: HV_HTTP_HOST must be an IP address or a host name/,
      );
    expect(localHttpUrl('0.0.0.0', 9464)).toBe('http://localhost:9464');
    expect(localHttpUrl('::', 9464)).toBe('http://localhost:9464');
    expect(localHttpUrl('::1', 9464)).toBe('http://[::1]:9464');
    expect(localHttpUrl('10.1.2.3', 9464)).toBe('http://10.1.2.3:9464');
  });

  it('lists every problem at once', () => {
    const parse = () => loadWorkerEnv({ DATABASE_URL: 'mysql://x', HV_HTTP_PORT: '70000' });
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(/DATABASE_URL: DATABASE_URL must be a postgres:\/\/ URL[\s\S]*HV_HTTP_PORT/);
  });
});

describe('worker process against the real servers', () => {
  let running: RunningWorker;
  let base: string;
  const taskQueue = uniqueTaskQueue('worker');
  beforeAll(async () => {
    process.env.TEMPORAL_ADDRESS = inject('temporalAddress');
    const httpPort = await freePort();
    const env = loadWorkerEnv({
      DATABASE_URL: inject('databaseUrl'),
      TEMPORAL_TASK_QUEUE: taskQueue,
      HV_HTTP_PORT: String(httpPort),
      HV_HTTP_HOST: '127.0.0.1',
      HV_SDK_METRICS_PORT: String(await freePort()),
      HV_SHUTDOWN_GRACE_SECONDS: '1',
      HV_LOG_LEVEL: 'WARN',
      HV_INTERNAL_SIGNING_KEY: testInternalKeyPem,
    });
    running = await startWorker(env, () => undefined);
    base = `http://127.0.0.1:${httpPort}`;
  });
  afterAll(async () => {
    await running?.shutdown();
  });

  it('is live and ready once polling', async () => {
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    // The build it runs, whose id is its Temporal deployment version (worker/build-info.ts).
    expect(await health.text()).toBe(
      `ok\nbuild ${running.build.buildId}\ndeployment agent-hypervisor (worker versioning off)\n`,
    );
    expect(running.build.buildId).toMatch(/^\d+\.\d+\.\d+\+([0-9a-f]{12}|unknown)-src$/);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toBe('ready\n');
  });

  it('serves its own metrics together with the Temporal SDK metrics', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain('hypervisor_process_cpu_seconds_total');
    expect(body).toContain(
      `hypervisor_build_info{version="${running.build.version}",git_sha="${running.build.gitSha}",` +
        `build_id="${running.build.buildId}",deployment="agent-hypervisor",versioning="off"} 1`,
    );
    expect(body).not.toContain('hypervisor_process_process_');
    expect(body).toMatch(/^temporal_/m);
  });

  it('keeps the daily audit retention schedule pointed at its task queue', async () => {
    const client = new Client({ connection: await Connection.connect({ address: inject('temporalAddress') }) });
    try {
      const schedule = await client.schedule.getHandle(RETENTION_SCHEDULE_ID).describe();
      expect(schedule.action).toMatchObject({
        type: 'startWorkflow',
        workflowType: 'auditRetentionWorkflow',
        taskQueue,
        args: [{ retentionDays: 180 }],
      });
      expect(schedule.spec.intervals?.[0]?.every).toBe(86_400_000);
    } finally {
      await client.connection.close();
    }
  });

  it('answers 404 for unknown paths', async () => {
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('drains and closes on shutdown', async () => {
    await running.shutdown();
    expect(running.worker.getState()).toBe('STOPPED');
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });
});

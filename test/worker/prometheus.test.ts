import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GovernanceCounter as C } from '../../domain/metrics.js';
import { freePort } from '../../worker/processes.js';
import { provisionPrometheus } from '../../worker/prometheus-tools.js';
import { runScenario, startObservedWorker, type ObservedWorker } from '../helpers/observed-scenario.js';
import { eventually } from '../helpers/session.js';

const root = path.resolve(import.meta.dirname, '../..');
const rulesFile = path.join(root, 'deploy/prometheus/alerts.yml');
const dashboard = JSON.parse(
  readFileSync(path.join(root, 'deploy/grafana/dashboards/agent-hypervisor.json'), 'utf8'),
) as {
  panels: Array<{ title: string; type: string; targets?: Array<{ expr: string }> }>;
};
const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

let tools: { prometheus: string; promtool: string };
let w: ObservedWorker;
let prom: ChildProcess;
let promUrl: string;
let dataDir: string;

interface ApiAnswer<T> {
  status: string;
  data: T;
  error?: string;
}
const api = async <T>(pathAndQuery: string): Promise<ApiAnswer<T>> =>
  (await (await fetch(`${promUrl}${pathAndQuery}`)).json()) as ApiAnswer<T>;
const instant = (expr: string) =>
  api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(
    `/api/v1/query?query=${encodeURIComponent(expr)}`,
  );

beforeAll(async () => {
  tools = await provisionPrometheus({ log: (line) => console.log(`[prometheus] ${line}`) });
  w = await startObservedWorker();
  dataDir = await mkdtemp(path.join(tmpdir(), 'hv-prom-'));
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  const config = [
    'global: { scrape_interval: 1s, evaluation_interval: 1s }',
    `rule_files: [${JSON.stringify(rulesFile)}]`,
    'scrape_configs:',
    '  - job_name: agent-hypervisor',
    `    static_configs: [{ targets: [${JSON.stringify(new URL(w.metricsUrl).host)}] }]`,
  ].join('\n');
  await writeFile(path.join(dataDir, 'prometheus.yml'), config);
  prom = spawn(
    tools.prometheus,
    [
      `--config.file=${path.join(dataDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dataDir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: 'ignore' },
  );
  await eventually(
    () =>
      fetch(`${promUrl}/-/ready`).then(
        (r) => r.ok,
        () => false,
      ),
    (ready) => ready,
    30_000,
  );
  // Scraped while it runs, so the rates over the scenario are not zero.
  await runScenario(w);
  // Until Prometheus holds the scenario's last events.
  await eventually(
    async () => (await instant(`sum(${C.sessionsClosed}) + sum(${C.quarantines}) + sum(${C.sagasEnded})`)).data.result,
    (r) => Number(r[0]?.value[1]) >= 3,
    30_000,
  );
}, 1_500_000);

afterAll(async () => {
  prom?.kill('SIGTERM');
  await w?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('the dashboard and alert rules in deploy/, against a real Prometheus scraping a real worker', () => {
  it('has a query for each part of the issue: governance, sagas, audit, worker and SDK health', () => {
    expect(queries.length).toBeGreaterThanOrEqual(20);
    for (const series of [
      'hypervisor_decisions_total',
      'hypervisor_breaches_total',
      'hypervisor_kill_switch_events_total',
      'hypervisor_sagas_ended_total',
      'hypervisor_saga_compensations_total',
      'hypervisor_audit_persist_lag_seconds',
      'hypervisor_worker_ready',
      'hypervisor_authorize_latency_seconds',
      'hypervisor_open_sessions',
      'hypervisor_open_sagas',
      'temporal_',
    ])
      expect(
        queries.some((q) => q.expr.includes(series)),
        series,
      ).toBe(true);
  });

  it('every panel query parses and returns data', async () => {
    const emptyQueries = async () => {
      const empty: string[] = [];
      for (const q of queries) {
        const answer = await instant(q.expr);
        expect(answer.status, `${q.panel}: ${q.expr}: ${answer.error}`).toBe('success');
        if (answer.data.result.length === 0) empty.push(`${q.panel}: ${q.expr}`);
      }
      return empty;
    };
    // A rate needs two scrapes of a series: wait for them, within a deadline.
    const empty = await eventually(emptyQueries, (e) => e.length === 0, 30_000).catch(() => emptyQueries());
    expect(empty).toEqual([]);
  });

  it('the live panels show what is open now, and the authorize latency of every caller', async () => {
    const panel = (title: string) => queries.filter((q) => q.panel === title).map((q) => q.expr);
    const [sessions, sagas] = panel('Open sessions and sagas');
    const value = async (expr: string) => Number((await instant(expr)).data.result[0]?.value[1]);
    // The strict session of the scenario is left open; its first session and the saga ended.
    expect(
      await eventually(
        () => value(sessions!),
        (n) => n === 1,
        30_000,
      ),
    ).toBe(1);
    expect(await value(sagas!)).toBe(0);
    for (const expr of panel('Authorize latency p50 / p99')) {
      const callers = (await instant(expr)).data.result.map((r) => r.metric.caller).sort();
      expect(callers, expr).toEqual(['client', 'saga_step']);
    }
  });

  it('promtool loads every alert rule', () => {
    const out = spawnSync(tools.promtool, ['check', 'rules', rulesFile], { encoding: 'utf8' });
    expect(out.status, out.stderr + out.stdout).toBe(0);
    expect(out.stdout).toMatch(/SUCCESS: 6 rules found/);
  });

  it('Prometheus evaluates every alert rule; the kill-switch trip fires and nothing else does', async () => {
    type Rule = { name: string; health: string; state: string; lastError?: string; lastEvaluation: string };
    const rules = await eventually(
      async () => (await api<{ groups: Array<{ rules: Rule[] }> }>('/api/v1/rules?type=alert')).data.groups,
      (groups) => groups.flatMap((g) => g.rules).some((r) => r.state === 'firing'),
      30_000,
    ).then((groups) => groups.flatMap((g) => g.rules));
    expect(rules.map((r) => r.name).sort()).toEqual([
      'HypervisorAuditFault',
      'HypervisorAuditOutboxGrowing',
      'HypervisorAuditPersistenceSlow',
      'HypervisorKillSwitchTripped',
      'HypervisorSagaEscalated',
      'HypervisorWorkerNotReady',
    ]);
    for (const r of rules) expect(r.health, `${r.name}: ${r.lastError}`).toBe('ok');
    const firing = rules.filter((r) => r.state !== 'inactive').map((r) => r.name);
    expect(firing).toEqual(['HypervisorKillSwitchTripped']);
  });
});

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { projectRoot } from '../../store/paths.js';
import { findOnPath } from '../../worker/go-tools.js';

interface Service {
  command?: string[];
  ports?: (string | { target: number; published: string | number })[];
  profiles?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  environment?: Record<string, string>;
  image?: string;
  secrets?: unknown[];
  volumes?: string[];
}

const dockerCompose = findOnPath('docker-compose', process.env);
if (process.env.HV_CI_STRICT && !dockerCompose)
  throw new Error('HV_CI_STRICT: docker-compose missing (.ci/deploy-tools)');

/** docker-compose.yml through a real compose parser (Debian's docker-compose, `config` needs no daemon). */
describe.skipIf(!dockerCompose)('docker-compose.yml', () => {
  const render = (file: string, env: NodeJS.ProcessEnv = {}) =>
    spawnSync(dockerCompose!, ['-f', file, 'config'], {
      cwd: projectRoot,
      encoding: 'utf8',
      env: { ...process.env, GIT_SHA: '', ...env },
    });

  it('is valid, and the parser rejects a broken file', () => {
    const ok = render('docker-compose.yml');
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    const broken = render(path.join(projectRoot, 'test/fixtures/compose-broken.yml'));
    expect(broken.status).not.toBe(0);
  });

  it('builds one image for every service, with the commit in its build id when GIT_SHA is set', () => {
    type Built = { build?: { context: string; args?: Record<string, string> }; image?: string };
    const built = (env: NodeJS.ProcessEnv) =>
      Object.entries((parse(render('docker-compose.yml', env).stdout) as { services: Record<string, Built> }).services)
        .filter(([, s]) => s.build)
        .map(([name, s]) => ({ name, image: s.image, sha: s.build!.args?.GIT_SHA }));
    const plain = built({});
    expect(plain.map((s) => s.name).sort()).toEqual(['api', 'migrate', 'worker-1', 'worker-2']);
    expect(new Set(plain.map((s) => `${s.image} ${s.sha}`))).toEqual(new Set(['agent-hypervisor:local unknown']));
    expect(new Set(built({ GIT_SHA: '0123456789ab' }).map((s) => s.sha))).toEqual(new Set(['0123456789ab']));
  });

  it('starts in order on health checks, runs two workers on one task queue, scrapes and provisions', () => {
    const { services } = parse(render('docker-compose.yml').stdout) as { services: Record<string, Service> };
    const workers = ['worker-1', 'worker-2'].map((name) => services[name]!);
    expect(new Set(workers.map((w) => w.environment?.TEMPORAL_TASK_QUEUE))).toEqual(new Set(['agent-hypervisor']));
    for (const w of workers) {
      expect(w.depends_on).toEqual({
        temporal: { condition: 'service_healthy' },
        migrate: { condition: 'service_completed_successfully' },
      });
      expect(w.environment).toMatchObject({
        HV_MIGRATE_ON_START: 'false',
        HV_AUDIT_SIGNING_KEY_FILE: '/run/secrets/audit_signing_key',
      });
      expect(w.healthcheck?.test.join(' ')).toMatch(/\/readyz/);
    }
    for (const name of ['temporal-postgres', 'temporal', 'hv-postgres', 'prometheus'])
      expect(services[name]!.healthcheck, name).toBeDefined();
    expect(services.temporal!.depends_on).toEqual({ 'temporal-postgres': { condition: 'service_healthy' } });
    expect(services.migrate!.depends_on).toEqual({ 'hv-postgres': { condition: 'service_healthy' } });
    const prometheus = parse(readFileSync(path.join(projectRoot, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
      rule_files: string[];
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    expect(prometheus.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets))).toEqual([
      'worker-1:9464',
      'worker-2:9464',
    ]);
    expect(prometheus.rule_files).toEqual(['/etc/prometheus/alerts.yml']);
    expect(services.grafana!.volumes!.join(' ')).toMatch(/deploy\/grafana\/dashboards:\/var\/lib\/grafana\/dashboards/);
  });

  it('runs the HTTP API from the same image after the migrations, health-checked, with an operator key on demand', () => {
    const { services } = parse(render('docker-compose.yml').stdout) as { services: Record<string, Service> };
    const api = services.api!;
    expect(api.image).toBe(services['worker-1']!.image);
    expect(api.command).toEqual(['node', 'dist/api/main.js']);
    expect(api.depends_on).toEqual({
      temporal: { condition: 'service_healthy' },
      migrate: { condition: 'service_completed_successfully' },
    });
    expect(api.environment).toMatchObject({ TEMPORAL_TASK_QUEUE: 'agent-hypervisor', HV_API_PORT: '8080' });
    expect(api.environment?.DATABASE_URL).toBe(services['worker-1']!.environment?.DATABASE_URL);
    expect(api.healthcheck?.test.join(' ')).toMatch(/127\.0\.0\.1:8080\/healthz/);
    expect(JSON.stringify(api.ports)).toMatch(/8080/);
    const key = services['api-key']!;
    expect(key.profiles).toEqual(['tools']);
    expect(key.command!.join(' ')).toMatch(/api-keys create --did "\$+HV_OPERATOR_DID" --role operator/);
    expect(key.depends_on).toEqual({ migrate: { condition: 'service_completed_successfully' } });
  });
});

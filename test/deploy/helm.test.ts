import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { projectRoot } from '../../store/paths.js';
import { helmTool } from '../../worker/deploy-tools.js';
import { provisionGoTool } from '../../worker/go-tools.js';

const chart = path.join(projectRoot, 'deploy/helm/agent-hypervisor');
const cloudValues = path.join(chart, 'values-temporal-cloud.yaml');

interface Manifest {
  kind: string;
  metadata: { annotations?: Record<string, string> };
  spec: Record<string, unknown> & {
    template?: { spec: { terminationGracePeriodSeconds: number; containers: Container[] } };
  };
}
interface Container {
  env: { name: string; value?: string }[];
  readinessProbe: { httpGet: { path: string } };
  livenessProbe: { httpGet: { path: string } };
  resources: unknown;
}

/** The Helm chart through a real `helm lint` and `helm template` (helm built with `go install`, pinned, cached). */
describe('Helm chart deploy/helm/agent-hypervisor', () => {
  let helm: string;
  const run = (...args: string[]) => spawnSync(helm, args, { encoding: 'utf8' });
  const render = (...extra: string[]): Manifest[] => {
    const out = run('template', 'hv', chart, ...extra);
    expect(out.status, out.stderr).toBe(0);
    return parseAllDocuments(out.stdout)
      .map((doc) => doc.toJS() as Manifest | null)
      .filter((m): m is Manifest => m !== null);
  };
  beforeAll(async () => {
    helm = await provisionGoTool(helmTool, { log: (line) => console.log(`[helm] ${line}`) });
  }, 1_200_000);

  it('passes helm lint --strict with the self-hosted and the Temporal Cloud values', () => {
    for (const values of [[], ['-f', cloudValues]]) {
      const out = run('lint', '--strict', chart, ...values);
      expect(out.status, out.stdout + out.stderr).toBe(0);
    }
  });

  it('renders workers that drain, probe, never migrate, and a migrations hook that runs first', () => {
    for (const values of [[], ['-f', cloudValues]]) {
      const manifests = render(...values);
      const kinds = manifests.map((m) => m.kind).sort();
      expect(kinds).toEqual(
        expect.arrayContaining([
          'Deployment',
          'HorizontalPodAutoscaler',
          'Job',
          'PodDisruptionBudget',
          'Secret',
          'Service',
        ]),
      );
      const deployment = manifests.find((m) => m.kind === 'Deployment')!;
      const pod = deployment.spec.template!.spec;
      const worker = pod.containers[0]!;
      const env = Object.fromEntries(worker.env.map((e) => [e.name, e.value]));
      expect(env.HV_MIGRATE_ON_START).toBe('false');
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(Number(env.HV_SHUTDOWN_GRACE_SECONDS));
      expect(worker.readinessProbe.httpGet.path).toBe('/readyz');
      expect(worker.livenessProbe.httpGet.path).toBe('/healthz');
      expect(worker.resources).toBeDefined();
      const job = manifests.find((m) => m.kind === 'Job')!;
      expect(job.metadata.annotations?.['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    }
    const cloud = render('-f', cloudValues);
    expect(cloud.map((m) => m.kind)).toContain('ServiceMonitor');
    const cloudEnv = cloud.find((m) => m.kind === 'Deployment')!.spec.template!.spec.containers[0]!.env;
    expect(cloudEnv.map((e) => e.name)).toContain('TEMPORAL_API_KEY');
  });

  it('refuses a termination grace period that does not exceed the worker shutdown grace', () => {
    const out = run('template', 'hv', chart, '--set', 'terminationGracePeriodSeconds=25');
    expect(out.status).not.toBe(0);
    expect(out.stderr).toMatch(/terminationGracePeriodSeconds must exceed shutdownGraceSeconds/);
  });
});

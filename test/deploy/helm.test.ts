import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { projectRoot } from '../../store/paths.js';
import { helmTool } from '../../worker/deploy-tools.js';
import { provisionGoTool } from '../../worker/go-tools.js';

const chart = path.join(projectRoot, 'deploy/helm/agent-hypervisor');
const cloudValues = path.join(chart, 'values-temporal-cloud.yaml');

type Labels = Record<string, string>;
interface Manifest {
  kind: string;
  metadata: { name: string; labels?: Labels; annotations?: Record<string, string> };
  spec: Record<string, unknown> & {
    selector?: { matchLabels: Labels } | Labels;
    template?: { metadata: { labels: Labels }; spec: PodSpec };
  };
}
interface PodSpec {
  terminationGracePeriodSeconds: number;
  securityContext: unknown;
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string } }[];
}
interface Container {
  command?: string[];
  ports: { name: string; containerPort: number }[];
  env: { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }[];
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
  resources: unknown;
  securityContext: unknown;
  volumeMounts?: { name: string; mountPath: string }[];
}

const workerName = 'hv-agent-hypervisor';
const apiName = 'hv-agent-hypervisor-api';
const named = (manifests: Manifest[], kind: string, name: string): Manifest | undefined =>
  manifests.find((m) => m.kind === kind && m.metadata.name === name);
/** Whether a selector (matchLabels) selects a pod with these labels. */
const selects = (selector: Labels, labels: Labels): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

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
      const deployment = named(manifests, 'Deployment', workerName)!;
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
    const cloudEnv = named(cloud, 'Deployment', workerName)!.spec.template!.spec.containers[0]!.env;
    expect(cloudEnv.map((e) => e.name)).toContain('TEMPORAL_API_KEY');
  });

  it('renders the HTTP API as its own Deployment (both probes, Secret, Temporal env) and Service, no Ingress', () => {
    for (const values of [[], ['-f', cloudValues]]) {
      const manifests = render(...values);
      const deployment = named(manifests, 'Deployment', apiName)!;
      expect(deployment).toBeDefined();
      expect(deployment.spec.replicas).toBe(2);
      const pod = deployment.spec.template!.spec;
      const container = pod.containers[0]!;
      expect(container.command).toEqual(['node', 'dist/api/main.js']);
      expect(container.ports).toEqual([{ name: 'http', containerPort: 8080 }]);
      expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(container.resources).toEqual({
        requests: { cpu: '100m', memory: '256Mi' },
        limits: { memory: '512Mi' },
      });
      const env = Object.fromEntries(container.env.map((e) => [e.name, e]));
      expect(env.HV_API_PORT?.value).toBe('8080');
      expect(env.HV_API_HOST?.value).toBe('0.0.0.0');
      expect(env.DATABASE_URL?.valueFrom).toEqual({ secretKeyRef: { name: workerName, key: 'DATABASE_URL' } });
      // The same Temporal variables as the worker (hv.temporalEnv), and the same non-root security context.
      const workerPod = named(manifests, 'Deployment', workerName)!.spec.template!.spec;
      const workerEnv = workerPod.containers[0]!.env;
      const temporal = (list: Container['env']) => list.filter((e) => e.name.startsWith('TEMPORAL_'));
      expect(temporal(container.env)).toEqual(temporal(workerEnv));
      expect(pod.securityContext).toEqual(workerPod.securityContext);
      expect(container.securityContext).toEqual(workerPod.containers[0]!.securityContext);

      const service = named(manifests, 'Service', apiName)!;
      expect(service.spec.ports).toEqual([{ name: 'http', port: 8080, targetPort: 'http' }]);
      expect(selects(service.spec.selector as Labels, deployment.spec.template!.metadata.labels)).toBe(true);
      expect(manifests.filter((m) => m.kind === 'Ingress')).toEqual([]);
    }
    const cloud = render('-f', cloudValues);
    const cloudApi = named(cloud, 'Deployment', apiName)!.spec.template!.spec.containers[0]!;
    expect(cloudApi.env.map((e) => e.name)).toContain('TEMPORAL_API_KEY');
  });

  it('keeps the worker and API pods apart: no worker selector (Deployment, PDB, Service) matches an API pod', () => {
    const manifests = render();
    const apiDeployment = named(manifests, 'Deployment', apiName)!;
    const workerDeployment = named(manifests, 'Deployment', workerName)!;
    const apiPod = apiDeployment.spec.template!.metadata.labels;
    const workerPod = workerDeployment.spec.template!.metadata.labels;
    expect(apiPod['app.kubernetes.io/component']).toBe('api');
    const workerSelectors = [
      (workerDeployment.spec.selector as { matchLabels: Labels }).matchLabels,
      (named(manifests, 'PodDisruptionBudget', workerName)!.spec.selector as { matchLabels: Labels }).matchLabels,
      named(manifests, 'Service', workerName)!.spec.selector as Labels,
    ];
    for (const selector of workerSelectors) {
      expect(selects(selector, workerPod)).toBe(true);
      expect(selects(selector, apiPod)).toBe(false);
    }
    // The worker's selector is unchanged (a Deployment selector is immutable: changing it breaks `helm upgrade`).
    expect(workerSelectors[0]).toEqual({
      'app.kubernetes.io/name': 'agent-hypervisor',
      'app.kubernetes.io/instance': 'hv',
    });
    const apiSelector = (apiDeployment.spec.selector as { matchLabels: Labels }).matchLabels;
    expect(selects(apiSelector, apiPod)).toBe(true);
    expect(selects(apiSelector, workerPod)).toBe(false);
  });

  it('reads DATABASE_URL (and the mTLS pair) for the API from existingSecret, as the worker does', () => {
    const manifests = render(
      '--set',
      'existingSecret=hv-secrets,temporal.tls.enabled=true,temporal.tls.cert=CERT,temporal.tls.key=KEY',
    );
    expect(manifests.map((m) => m.kind)).not.toContain('Secret');
    for (const name of [workerName, apiName]) {
      const pod = named(manifests, 'Deployment', name)!.spec.template!.spec;
      const container = pod.containers[0]!;
      const databaseUrl = container.env.find((e) => e.name === 'DATABASE_URL')!;
      expect(databaseUrl.valueFrom).toEqual({ secretKeyRef: { name: 'hv-secrets', key: 'DATABASE_URL' } });
      expect(container.volumeMounts).toContainEqual(expect.objectContaining({ name: 'tls', mountPath: '/etc/hv/tls' }));
      expect(pod.volumes?.find((v) => v.name === 'tls')?.secret?.secretName).toBe('hv-secrets');
    }
  });

  it('renders the API Ingress only when enabled, with class, host and TLS', () => {
    const manifests = render(
      '--set',
      'api.ingress.enabled=true,api.ingress.className=nginx,api.ingress.host=hv.example.com,api.ingress.tls.enabled=true,api.ingress.tls.secretName=hv-tls',
    );
    const ingress = named(manifests, 'Ingress', apiName)!;
    expect(ingress.spec).toEqual({
      ingressClassName: 'nginx',
      tls: [{ secretName: 'hv-tls', hosts: ['hv.example.com'] }],
      rules: [
        {
          host: 'hv.example.com',
          http: {
            paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: apiName, port: { name: 'http' } } } }],
          },
        },
      ],
    });
    const out = run('template', 'hv', chart, '--set', 'api.ingress.enabled=true,api.ingress.tls.enabled=true');
    expect(out.status).not.toBe(0);
    expect(out.stderr).toMatch(/api.ingress.tls.enabled needs api.ingress.tls.secretName/);
  });

  it('renders no API object with api.enabled=false', () => {
    const manifests = render('--set', 'api.enabled=false,api.ingress.enabled=true');
    expect(manifests.filter((m) => m.metadata.name === apiName)).toEqual([]);
    expect(manifests.filter((m) => m.kind === 'Deployment').map((m) => m.metadata.name)).toEqual([workerName]);
    expect(manifests.filter((m) => m.kind === 'Service').map((m) => m.metadata.name)).toEqual([workerName]);
    expect(manifests.map((m) => m.kind)).not.toContain('Ingress');
  });

  it('refuses a termination grace period that does not exceed the worker shutdown grace', () => {
    const out = run('template', 'hv', chart, '--set', 'terminationGracePeriodSeconds=25');
    expect(out.status).not.toBe(0);
    expect(out.stderr).toMatch(/terminationGracePeriodSeconds must exceed shutdownGraceSeconds/);
  });
});

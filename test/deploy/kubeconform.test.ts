import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { projectRoot } from '../../store/paths.js';
import { helmTool, kubeconformTool } from '../../worker/deploy-tools.js';
import { provisionGoTool } from '../../worker/go-tools.js';
import { provisionK8sSchemas, schemaLocation } from '../../worker/k8s-schemas.js';

const chart = path.join(projectRoot, 'deploy/helm/agent-hypervisor');
const cloudValues = path.join(chart, 'values-temporal-cloud.yaml');

interface Doc {
  kind: string;
  spec: {
    replicas?: unknown;
    template?: { spec: { containers: Record<string, unknown>[] } };
    endpoints?: Record<string, unknown>[];
  };
}

/** Every way of installing the chart that the README and the values files describe. */
const variants: Record<string, string[]> = {
  'self-hosted (defaults)': [],
  'Temporal Cloud, API key, ServiceMonitor': ['-f', cloudValues],
  'Temporal Cloud, mTLS': [
    '-f',
    cloudValues,
    '--set',
    'temporal.apiKey=,temporal.tls.enabled=true,temporal.tls.cert=CERT,temporal.tls.key=KEY',
  ],
  'existing Secret, no autoscaling, no migrations Job': [
    '--set',
    'existingSecret=hv-secrets,autoscaling.enabled=false,migrations.enabled=false',
  ],
  'worker versioning on': ['--set', 'workerVersioning.enabled=true,workerVersioning.deploymentName=hv-prod'],
  'API Ingress with class, host and TLS': [
    '--set',
    'api.ingress.enabled=true,api.ingress.className=nginx,api.ingress.host=hv.example.com,api.ingress.tls.enabled=true,api.ingress.tls.secretName=hv-tls',
  ],
  'API Ingress, default class, every host; API on port 9000, 3 replicas': [
    '--set',
    'api.ingress.enabled=true,api.port=9000,api.replicas=3',
  ],
  'no API': ['--set', 'api.enabled=false'],
};

/** The kinds each variant must render (so a template that renders nothing cannot pass by validating nothing). */
const apiKinds = (values: string[]): string[] =>
  values.join(' ').includes('api.enabled=false')
    ? []
    : values.join(' ').includes('api.ingress.enabled=true')
      ? ['Deployment', 'Ingress', 'Service']
      : ['Deployment', 'Service'];

/**
 * The rendered chart through a real kubeconform against the Kubernetes 1.34 schemas (strict: unknown fields fail),
 * made locally from the OpenAPI spec in the Kubernetes Go module and the ServiceMonitor CRD of prometheus-operator
 * (worker/k8s-schemas.ts). No kind is skipped and a missing schema is an error.
 */
describe('kubeconform on the Helm chart', () => {
  let helm: string;
  let kubeconform: string;
  let schemas: string;
  const log = (line: string) => console.log(`[kubeconform] ${line}`);
  const render = (values: string[]): string => {
    const out = spawnSync(helm, ['template', 'hv', chart, ...values], { encoding: 'utf8' });
    expect(out.status, out.stderr).toBe(0);
    return out.stdout;
  };
  const validate = (manifests: string) => {
    const out = spawnSync(
      kubeconform,
      ['-strict', '-summary', '-output', 'json', '-schema-location', schemaLocation(schemas), '-'],
      { encoding: 'utf8', input: manifests },
    );
    const report = JSON.parse(out.stdout) as {
      resources?: { kind: string; status: string; msg: string }[];
      summary: { valid: number; invalid: number; errors: number; skipped: number };
    };
    return { status: out.status, report };
  };
  beforeAll(async () => {
    helm = await provisionGoTool(helmTool, { log });
    kubeconform = await provisionGoTool(kubeconformTool, { log });
    schemas = await provisionK8sSchemas();
  }, 1_200_000);

  for (const [name, values] of Object.entries(variants)) {
    it(`validates every rendered manifest: ${name}`, () => {
      const manifests = render(values);
      const docs = parseAllDocuments(manifests)
        .map((doc) => doc.toJS() as (Doc & { metadata: { name: string } }) | null)
        .filter((m): m is Doc & { metadata: { name: string } } => m !== null);
      const count = docs.length;
      const api = docs.filter((m) => m.metadata.name === 'hv-agent-hypervisor-api').map((m) => m.kind);
      expect(api.sort()).toEqual(apiKinds(values));
      const { status, report } = validate(manifests);
      expect(report.resources ?? [], JSON.stringify(report.resources)).toEqual([]);
      expect(status).toBe(0);
      expect(report.summary).toEqual({ valid: count, invalid: 0, errors: 0, skipped: 0 });
    });
  }

  it('rejects a manifest with an unknown field, a wrong type or a kind it has no schema for', () => {
    const docs = parseAllDocuments(render(['-f', cloudValues]))
      .map((doc) => doc.toJS() as Doc | null)
      .filter((m): m is Doc => m !== null);
    const deployment = docs.find((m) => m.kind === 'Deployment')!;
    const typo = structuredClone(deployment);
    const container = typo.spec.template!.spec.containers[0]!;
    container.readinesProbe = container.readinessProbe;
    const wrongType = structuredClone(deployment);
    wrongType.spec.replicas = 'two';
    const monitor = structuredClone(docs.find((m) => m.kind === 'ServiceMonitor')!);
    monitor.spec.endpoints![0]!.intervall = '15s';
    const unknownKind = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } };
    const { status, report } = validate([typo, wrongType, monitor, unknownKind].map((m) => stringify(m)).join('---\n'));
    expect(status).not.toBe(0);
    expect(report.summary).toMatchObject({ valid: 0, invalid: 3, errors: 1 });
    const messages = (report.resources ?? []).map((r) => r.msg).join('\n');
    expect(messages).toMatch(/additional properties 'readinesProbe' not allowed/);
    expect(messages).toMatch(/\/spec\/replicas/);
    expect(messages).toMatch(/additional properties 'intervall' not allowed/);
    expect(messages).toMatch(/could not find schema for Widget/);
  });
});

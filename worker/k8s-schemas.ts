import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { findOnPath } from './go-tools.js';
import { cacheDir } from './paths.js';

/**
 * Kubernetes JSON schemas for kubeconform, made on this machine: no schema is downloaded from a schema site. The
 * OpenAPI spec is the one the Kubernetes Go module carries (`api/openapi-spec/swagger.json`), and the ServiceMonitor
 * CRD the one the prometheus-operator Go module carries; both come through `go mod download`, pinned. They are turned
 * into kubeconform's "standalone strict" layout (every `$ref` inlined, unknown fields refused, optional fields may be
 * null, int-or-string and quantities accept both forms) — what the kubernetes-json-schema tooling produces — and cached
 * in `~/.cache/agent-hypervisor/k8s-schemas/<versions>/`, one `<kind>-<group>-<version>.json` per API kind.
 */
export const K8S_OPENAPI = { module: 'k8s.io/kubernetes', version: 'v1.34.3', file: 'api/openapi-spec/swagger.json' };
export const PROMETHEUS_OPERATOR_CRDS = {
  module: 'github.com/prometheus-operator/prometheus-operator',
  version: 'v0.85.0',
  file: 'example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml',
};

/** Bumped when the conversion below changes, so that a cached folder made by older code is not reused. */
const FORMAT = 1;

type Schema = Record<string, unknown>;
interface Gvk {
  group: string;
  version: string;
  kind: string;
}

/** The kubeconform `-schema-location` template for a folder of schemas made by {@link provisionK8sSchemas}. */
export const schemaLocation = (dir: string): string => path.join(dir, '{{ .ResourceKind }}{{ .KindSuffix }}.json');

/** kubeconform's file name for a kind: `deployment-apps-v1.json`, `secret-v1.json`, `servicemonitor-monitoring-v1.json`. */
export function schemaFileName({ group, version, kind }: Gvk): string {
  const suffix = group
    ? `-${group.split('.')[0]!.toLowerCase()}-${version.toLowerCase()}`
    : `-${version.toLowerCase()}`;
  return `${kind.toLowerCase()}${suffix}.json`;
}

/** The folder of schemas, made first if it is not in the cache. Needs Go (for `go mod download`) the first time. */
export async function provisionK8sSchemas(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const dir = path.join(
    cacheDir(env),
    'k8s-schemas',
    `kubernetes-${K8S_OPENAPI.version}+prometheus-operator-${PROMETHEUS_OPERATOR_CRDS.version}+format-${FORMAT}`,
  );
  if (existsSync(path.join(dir, 'complete'))) return dir;
  const swagger = JSON.parse(await readFile(moduleFile(K8S_OPENAPI, env), 'utf8')) as {
    definitions: Record<string, Schema>;
  };
  const crds = parseAllDocuments(await readFile(moduleFile(PROMETHEUS_OPERATOR_CRDS, env), 'utf8')).map(
    (doc) => doc.toJS() as Schema,
  );
  const files = new Map<string, Schema>([
    ...coreSchemas(swagger.definitions),
    ...crdSchemas(crds, swagger.definitions),
  ]);
  const staging = `${dir}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  for (const [name, schema] of files) await writeFile(path.join(staging, name), JSON.stringify(schema));
  await writeFile(path.join(staging, 'complete'), `${files.size} schemas\n`);
  await rm(dir, { recursive: true, force: true });
  await rename(staging, dir).catch(async (err: unknown) => {
    // Another process made the same folder at the same time: keep theirs.
    await rm(staging, { recursive: true, force: true });
    if (!existsSync(path.join(dir, 'complete'))) throw err;
  });
  return dir;
}

/** A file inside a Go module, brought into the module cache with `go mod download` (a checksummed, pinned zip). */
function moduleFile(source: { module: string; version: string; file: string }, env: NodeJS.ProcessEnv): string {
  const go = findOnPath('go', env);
  if (!go) throw new Error(`Go is needed once to fetch ${source.module}@${source.version} for the Kubernetes schemas.`);
  const out = spawnSync(go, ['mod', 'download', '-json', `${source.module}@${source.version}`], {
    encoding: 'utf8',
    env,
    cwd: tmpdir(),
  });
  const info = JSON.parse(out.stdout || '{}') as { Dir?: string; Error?: string };
  if (out.status !== 0 || !info.Dir) {
    throw new Error(`go mod download ${source.module}@${source.version} failed: ${info.Error ?? out.stderr}`);
  }
  return path.join(info.Dir, source.file);
}

function coreSchemas(definitions: Record<string, Schema>): [string, Schema][] {
  const out: [string, Schema][] = [];
  for (const [name, def] of Object.entries(definitions)) {
    const gvks = (def['x-kubernetes-group-version-kind'] as Gvk[] | undefined) ?? [];
    if (gvks.length !== 1) continue; // DeleteOptions, WatchEvent…: shared by every group, never a manifest
    const gvk = gvks[0]!;
    const schema = strict(expand({ $ref: `#/definitions/${name}` }, definitions, []) as Schema);
    pinKind(schema, gvk);
    out.push([schemaFileName(gvk), schema]);
  }
  return out;
}

function crdSchemas(crds: Schema[], definitions: Record<string, Schema>): [string, Schema][] {
  const objectMeta = expand({ $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' }, definitions, []);
  const out: [string, Schema][] = [];
  for (const crd of crds) {
    if (crd.kind !== 'CustomResourceDefinition') continue;
    const spec = crd.spec as { group: string; names: { kind: string }; versions: Schema[] };
    for (const version of spec.versions) {
      const openApi = (version.schema as { openAPIV3Schema?: Schema } | undefined)?.openAPIV3Schema;
      if (!openApi) continue;
      const gvk = { group: spec.group, version: version.name as string, kind: spec.names.kind };
      const properties = { ...(openApi.properties as Record<string, Schema>), metadata: objectMeta };
      const schema = strict({ ...openApi, properties }, { nullable: false });
      pinKind(schema, gvk);
      out.push([schemaFileName(gvk), schema]);
    }
  }
  return out;
}

/** Inlines every `$ref`; a type that contains itself (JSONSchemaProps) is left open at the point it recurs. */
function expand(node: unknown, definitions: Record<string, Schema>, stack: string[]): unknown {
  if (Array.isArray(node)) return node.map((item) => expand(item, definitions, stack));
  if (node === null || typeof node !== 'object') return node;
  const { $ref, ...rest } = node as Schema;
  if (typeof $ref === 'string') {
    const name = $ref.replace('#/definitions/', '');
    if (name === QUANTITY) return { oneOf: [{ type: 'string' }, { type: 'number' }], ...rest };
    if (stack.includes(name)) return { ...rest };
    const target = definitions[name];
    if (!target) throw new Error(`unknown $ref ${$ref}`);
    return { ...(expand(target, definitions, [...stack, name]) as Schema), ...rest };
  }
  return Object.fromEntries(Object.entries(rest).map(([key, value]) => [key, expand(value, definitions, stack)]));
}

/**
 * kubectl's validation rules in JSON-schema form: objects refuse unknown fields, int-or-string and quantities take
 * both forms, and (for the built-in types, whose spec marks few fields required) an optional field may be null, as
 * `helm template` renders an empty value.
 */
function strict(node: Schema, options: { nullable: boolean } = { nullable: true }): Schema {
  const walk = (value: unknown, optional: boolean): unknown => {
    if (Array.isArray(value)) return value.map((item) => walk(item, false));
    if (value === null || typeof value !== 'object') return value;
    const schema = value as Schema;
    if (schema.format === 'int-or-string') return { oneOf: [{ type: 'string' }, { type: 'integer' }] };
    const required = new Set((schema.required as string[] | undefined) ?? []);
    const out: Schema = {};
    for (const [key, child] of Object.entries(schema)) {
      if (key === 'properties' && child && typeof child === 'object') {
        out.properties = Object.fromEntries(
          Object.entries(child as Schema).map(([name, prop]) => [name, walk(prop, !required.has(name))]),
        );
      } else if (key.startsWith('x-kubernetes-') || key === 'description') {
        continue; // annotations only; dropping them keeps the files small
      } else {
        out[key] = walk(child, false);
      }
    }
    if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
    if (options.nullable && optional && typeof out.type === 'string') out.type = [out.type, 'null'];
    return out;
  };
  return walk(node, false) as Schema;
}

/** A quantity (`250m`, `1Gi`) is a string in the spec, but the API server takes a plain number too. */
const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';

/** A manifest of this schema must name exactly this apiVersion and kind. */
function pinKind(schema: Schema, { group, version, kind }: Gvk): void {
  const properties = schema.properties as Record<string, Schema>;
  properties.apiVersion = { type: 'string', enum: [group ? `${group}/${version}` : version] };
  properties.kind = { type: 'string', enum: [kind] };
}

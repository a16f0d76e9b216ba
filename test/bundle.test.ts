import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, bundleWorkflowCode } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { sharedModulesPath, workflowBundleOptions } from '../worker/bundle.js';
import { projectRoot } from '../store/paths.js';

const quiet = new DefaultLogger('ERROR', () => undefined);

describe('workflow sandbox', () => {
  it('refuses to bundle a workflow file that imports node:crypto', async () => {
    const leaky = fileURLToPath(new URL('./fixtures/workflow-importing-node-crypto.ts', import.meta.url));
    const errors: string[] = [];
    const logger = new DefaultLogger('ERROR', (entry) => errors.push(`${entry.message} ${JSON.stringify(entry.meta)}`));
    await expect(bundleWorkflowCode({ workflowsPath: leaky, logger })).rejects.toThrow(/Webpack finished with errors/);
    expect(errors.join('\n')).toMatch(/node:crypto/);
  });

  it('bundles the hypervisor workflows, without any tracing interceptor', async () => {
    const { code } = await bundleWorkflowCode({ ...workflowBundleOptions(), logger: quiet });
    expect(code).toContain('sessionWorkflow');
    expect(code).not.toContain('OpenTelemetryInboundInterceptor');
  });

  it('bundles the traced workflows with the OpenTelemetry workflow interceptors and the hypervisor span attributes', async () => {
    const { code } = await bundleWorkflowCode({ ...workflowBundleOptions({ traced: true }), logger: quiet });
    expect(code).toContain('sessionWorkflow');
    expect(code).toContain('OpenTelemetryInboundInterceptor');
    expect(code).toContain('hv.saga.step_id');
  });

  it('shares every domain module across the workflows of a worker', async () => {
    expect(workflowBundleOptions().preloadModules).toEqual([sharedModulesPath]);
    const source = await readFile(sharedModulesPath, 'utf8');
    const imported = [...source.matchAll(/from '\.\.\/domain\/([^']+)\.js'/g)].map((m) => m[1]).sort();
    const domain = (await readdir(path.join(projectRoot, 'domain'), { recursive: true, encoding: 'utf8' }))
      .filter((file) => file.endsWith('.ts'))
      .map((file) => file.replace(/\.ts$/, ''))
      .sort();
    expect(imported).toEqual(domain);
  });
});

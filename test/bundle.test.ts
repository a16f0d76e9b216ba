import { fileURLToPath } from 'node:url';
import { DefaultLogger, bundleWorkflowCode } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowsPath } from '../worker/paths.js';

const quiet = new DefaultLogger('ERROR', () => undefined);

describe('workflow sandbox', () => {
  it('refuses to bundle a workflow file that imports node:crypto', async () => {
    const leaky = fileURLToPath(new URL('./fixtures/workflow-importing-node-crypto.ts', import.meta.url));
    const errors: string[] = [];
    const logger = new DefaultLogger('ERROR', (entry) => errors.push(`${entry.message} ${JSON.stringify(entry.meta)}`));
    await expect(bundleWorkflowCode({ workflowsPath: leaky, logger })).rejects.toThrow(/Webpack finished with errors/);
    expect(errors.join('\n')).toMatch(/node:crypto/);
  });

  it('bundles the hypervisor workflows', async () => {
    const { code } = await bundleWorkflowCode({ workflowsPath, logger: quiet });
    expect(code).toContain('sessionWorkflow');
  });
});

import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runHv } from '../helpers/cli.js';

const hv = (...args: string[]) => runHv(args);

describe('hv saga validate', () => {
  it('accepts the README example', async () => {
    const out = await hv('saga', 'validate', 'examples/saga-deploy.yaml');
    expect(out).toMatchObject({ code: 0, stdout: 'examples/saga-deploy.yaml: valid\n' });
  });

  it('lists every error with its path and exits 2', async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'hv-saga-')), 'bad.yaml');
    await writeFile(
      file,
      [
        'name: broken',
        'session_id: s1',
        'steps:',
        '  - { id: a, action_id: x, agent: "did:mesh:a", timeout: 0, depends_on: [b] }',
        '  - { id: b, action_id: y, agent: "did:mesh:b", depends_on: [a, ghost] }',
        '  - { id: a, action_id: z, agent: "did:mesh:a" }',
      ].join('\n'),
    );
    const out = await hv('saga', 'validate', file);
    expect(out.code).toBe(2);
    for (const expected of [
      'steps[0].timeout:',
      'steps[2].id: duplicate step id "a"',
      'steps[1].depends_on[1]:',
      'dependency cycle',
    ])
      expect(out.stdout).toContain(expected);
    const json = await hv('saga', 'validate', file, '--json');
    expect(json.code).toBe(2);
    const report = JSON.parse(json.stdout) as { valid: boolean; issues: Array<{ path: string }> };
    expect(report.valid).toBe(false);
    expect(report.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['steps[0].timeout', 'steps[2].id']));
  });
});

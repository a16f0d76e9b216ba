import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEMPORAL_CLI_VERSION, cachedCliPath, resolveTemporalCli } from '../../worker/temporal-cli.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hv-cli-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fakeBinary(file: string): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, '#!/bin/sh\necho "temporal version 0.0.0-test"\n');
  await chmod(file, 0o755);
  return file;
}

describe('finding the temporal CLI (DESIGN §1 order)', () => {
  it('prefers TEMPORAL_CLI_PATH over everything else', async () => {
    const explicit = await fakeBinary(path.join(dir, 'explicit', 'temporal'));
    await fakeBinary(path.join(dir, 'bin', 'temporal'));
    const env = { TEMPORAL_CLI_PATH: explicit, PATH: path.join(dir, 'bin'), HV_CACHE_DIR: path.join(dir, 'cache') };
    expect(await resolveTemporalCli({ env })).toEqual({ kind: 'binary', path: explicit, source: 'TEMPORAL_CLI_PATH' });
  });

  it('fails clearly when TEMPORAL_CLI_PATH points at nothing', async () => {
    const env = { TEMPORAL_CLI_PATH: path.join(dir, 'missing'), PATH: '' };
    await expect(resolveTemporalCli({ env })).rejects.toThrow(/TEMPORAL_CLI_PATH=.*not an executable/);
  });

  it('uses temporal on PATH before the cache', async () => {
    const onPath = await fakeBinary(path.join(dir, 'bin', 'temporal'));
    const env = { PATH: path.join(dir, 'bin'), HV_CACHE_DIR: path.join(dir, 'cache') };
    await fakeBinary(cachedCliPath(env));
    expect(await resolveTemporalCli({ env })).toEqual({ kind: 'binary', path: onPath, source: 'PATH' });
  });

  it('reuses the cached build outside the repository', async () => {
    const env = { PATH: path.join(dir, 'empty'), HV_CACHE_DIR: path.join(dir, 'cache') };
    const cached = await fakeBinary(cachedCliPath(env));
    expect(cached).toContain(path.join('temporal-cli', TEMPORAL_CLI_VERSION));
    expect(await resolveTemporalCli({ env })).toEqual({ kind: 'binary', path: cached, source: 'cache' });
  });

  it('falls back to the SDK download when there is no CLI and no Go', async () => {
    const lines: string[] = [];
    const env = { PATH: path.join(dir, 'empty'), HV_CACHE_DIR: path.join(dir, 'cache') };
    const cli = await resolveTemporalCli({ env, log: (line) => lines.push(line) });
    expect(cli.kind).toBe('sdk-download');
    expect(lines.join('\n')).toMatch(/go install github.com\/temporalio\/cli\/cmd\/temporal@v1\.5\.1/);
  });
});

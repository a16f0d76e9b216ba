import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { distDir, projectRoot } from '../../store/paths.js';
import { prebuiltBundlePath } from '../../worker/bundle.js';
import { freePort } from '../../worker/processes.js';
import { testCheckpointDir, testInternalKeyPem, testPrivateKeyPem } from '../helpers/audit.js';
import { eventually, newSession } from '../helpers/session.js';
import { connectTestTemporal, uniqueTaskQueue, type TemporalTestContext } from '../helpers/temporal.js';

const dockerfile = readFileSync(path.join(projectRoot, 'Dockerfile'), 'utf8');

describe('Dockerfile', () => {
  it('passes the dockerfile-utils linter, which does catch a broken file', () => {
    expect(validate(dockerfile)).toEqual([]);
    expect(validate('FROM node:20 AS build\nRUN\nHEALTHCHECK CMD\n').length).toBeGreaterThan(0);
  });

  it('builds in one stage and runs production dependencies and dist/ as a non-root user under tini', () => {
    const stages = DockerfileParser.parse(dockerfile).getFROMs();
    expect(stages.map((from) => from.getBuildStage())).toEqual(['build', 'runtime']);
    const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'));
    expect(runtime).toMatch(/RUN npm ci --omit=dev/);
    expect(runtime).toMatch(/COPY --from=build \/app\/dist \.\/dist/);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^HEALTHCHECK .*\n.*\/healthz/m);
    // Exec form: node (through tini) is the process that receives SIGTERM, not a shell.
    expect(runtime).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m);
    expect(runtime).toMatch(/^CMD \["node", "dist\/worker\/main\.js"\]$/m);
  });
});

/**
 * The runtime stage without Docker: the same steps (production install from the lock file into a clean directory,
 * dist/, bin/ and migrations/ copied in, the same start command), then the worker against the test servers. The clean
 * directory has no TypeScript sources, so the sessions it serves prove the pre-built bundle is used. Needs
 * `npm run build` first; `.ci/run` builds and sets HV_CI_STRICT so that CI never skips it.
 */
const built = existsSync(path.join(distDir, 'worker', 'main.js')) && existsSync(prebuiltBundlePath);
if (process.env.HV_CI_STRICT && !built) throw new Error('HV_CI_STRICT is set but dist/ is not built');

describe.skipIf(!built)('the runtime stage, rehearsed in a clean directory', () => {
  const app = mkdtempSync(path.join(tmpdir(), 'hv-runtime-'));
  const taskQueue = uniqueTaskQueue('runtime-stage');
  let worker: ChildProcess;
  let exited: Promise<number | null>;
  let httpPort: number;
  let ctx: TemporalTestContext;

  beforeAll(async () => {
    for (const file of ['package.json', 'package-lock.json'])
      cpSync(path.join(projectRoot, file), path.join(app, file));
    const install = spawnSync('npm', ['ci', '--omit=dev', '--offline', '--no-audit', '--no-fund'], {
      cwd: app,
      encoding: 'utf8',
    });
    expect(install.status, install.stderr).toBe(0);
    for (const dir of ['dist', 'bin', 'migrations'])
      cpSync(path.join(projectRoot, dir), path.join(app, dir), { recursive: true });
    httpPort = await freePort();
    worker = spawn(process.execPath, ['dist/worker/main.js'], {
      cwd: app,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        DATABASE_URL: inject('databaseUrl'),
        TEMPORAL_TASK_QUEUE: taskQueue,
        HV_HTTP_HOST: '127.0.0.1',
        HV_HTTP_PORT: String(httpPort),
        HV_SDK_METRICS_PORT: String(await freePort()),
        HV_MIGRATE_ON_START: 'false',
        HV_AUDIT_RETENTION_SCHEDULE: 'false',
        HV_AUDIT_SIGNING_KEY: testPrivateKeyPem,
        HV_INTERNAL_SIGNING_KEY: testInternalKeyPem,
        HV_CHECKPOINT_SINK: testCheckpointDir,
        HV_SHUTDOWN_GRACE_SECONDS: '2',
        HV_LOG_LEVEL: 'ERROR',
      },
    });
    exited = new Promise((resolve) => worker.once('exit', (code) => resolve(code)));
    ctx = await connectTestTemporal();
  }, 300_000);

  afterAll(async () => {
    if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    await ctx?.close();
    rmSync(app, { recursive: true, force: true });
  });

  it('has no TypeScript sources, only production dependencies', () => {
    expect(existsSync(path.join(app, 'workflows'))).toBe(false);
    expect(existsSync(path.join(app, 'node_modules', 'typescript'))).toBe(false);
    expect(existsSync(path.join(app, 'node_modules', '@temporalio', 'worker'))).toBe(true);
  });

  it('answers /healthz and /readyz, serves a session from the pre-built bundle, and drains on SIGTERM', async () => {
    const status = (route: string) =>
      fetch(`http://127.0.0.1:${httpPort}${route}`).then(
        (res) => res.status,
        () => 0,
      );
    await eventually(
      () => status('/readyz'),
      (s) => s === 200,
      60_000,
    );
    expect(await status('/healthz')).toBe(200);
    // The build id baked into dist/ by `npm run build` (<version>+<commit>), not the sources' `-src` one.
    const health = await (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).text();
    expect(health).toMatch(/^ok\nbuild \d+\.\d+\.\d+\+([0-9a-f]{12}|unknown)\n/);
    const { session } = await newSession(ctx, taskQueue);
    expect((await session.view()).sessionId).toBe(session.sessionId);
    worker.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('is importable as a library through its exports map', () => {
    const probe = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const m = await import('agent-hypervisor'); console.log(typeof m.HypervisorClient)",
      ],
      { cwd: app, encoding: 'utf8' },
    );
    expect(probe.stderr).toBe('');
    expect(probe.stdout.trim()).toBe('function');
  });
});

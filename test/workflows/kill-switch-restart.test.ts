import { mkdtemp, rm } from 'node:fs/promises';
import { testKeyring } from '../helpers/operators.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';
import { HypervisorClient } from '../../client/hypervisor-client.js';
import { ErrorType } from '../../domain/errors.js';
import { freePort } from '../../worker/processes.js';
import { resolveTemporalCli } from '../../worker/temporal-cli.js';
import { startTemporalDevServer, type DevServer } from '../../worker/temporal-dev-server.js';
import { testActivities } from '../helpers/audit.js';
import { did, eventually, expectHvError } from '../helpers/session.js';

/** A Temporal server of its own with persistent state, so the test can stop it and start it again. */
async function withServer<T>(dir: string, port: number, fn: (hv: HypervisorClient) => Promise<T>): Promise<T> {
  const server: DevServer = await startTemporalDevServer({
    cli: await resolveTemporalCli({ log: () => undefined }),
    port,
    stateDir: dir,
    dbFilename: path.join(dir, 'temporal.db'),
  });
  const taskQueue = 'ks-restart';
  const connection = await Connection.connect({ address: server.address });
  const native = await NativeConnection.connect({ address: server.address });
  try {
    const client = new Client({ connection });
    const worker = await Worker.create({
      connection: native,
      taskQueue,
      workflowBundle: { codePath: inject('workflowBundlePath') },
      activities: testActivities({ taskQueue, temporal: () => Promise.resolve(client) }),
    });
    return await worker.runUntil(fn(HypervisorClient.fromClient(client, taskQueue, { operator: testKeyring })));
  } finally {
    await native.close();
    await connection.close();
    await server.stop();
  }
}

describe('a kill-switch block', () => {
  it('survives a restart of the Temporal server', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'hv-ks-restart-'));
    const port = await freePort();
    const agent = did('blocked');
    try {
      await withServer(dir, port, async (hv) => {
        const s = await hv.createSession({ creatorDid: did('op'), config: {} });
        await s.join({ agentDid: agent, sigmaRaw: 0.8 });
        await hv.agent(agent).configure({ enabled: true });
        await hv.agent(agent).trip({ reason: 'contain', authorizedBy: 'did:mesh:sre' });
        await eventually(
          () => s.view(),
          (v) => v.participants.find((p) => p.agentDid === agent)?.status === 'killed',
        );
      });
      // Same state directory: the server comes back with the agent workflow and its block.
      await withServer(dir, port, async (hv) => {
        expect((await hv.agent(agent).status()).blocked).toMatchObject({ trigger: 'operator', reason: 'contain' });
        const s = await hv.createSession({ creatorDid: did('op'), config: {} });
        await expectHvError(s.join({ agentDid: agent, sigmaRaw: 0.9 }), ErrorType.KillSwitchTripped);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

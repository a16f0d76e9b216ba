import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StepInvocation } from '../../domain/saga-types.js';

export type Behaviour =
  | { status: number; body?: unknown }
  /** Hold the request open until released (or the caller gives up). */
  | 'hang'
  /** Apply the effect at once, then hold the response (the caller dies before it hears back). */
  | 'applyThenHang'
  /** Hold the request and apply it when released even if the caller is gone (a zombie's late write). */
  | 'lateWrite';

export interface StepCall {
  path: string;
  invocation: StepInvocation;
}

/**
 * A real HTTP step service for saga tests. It records every call, applies each effect at most once per idempotency
 * key (as a well-behaved service does), and can be told to fail or hang per path.
 */
export class StepService {
  readonly calls: StepCall[] = [];
  /** Idempotency keys whose effect was applied, in order. */
  readonly applied: string[] = [];
  /** Paths whose request the caller aborted (a cancelled step). */
  readonly aborted: string[] = [];
  /** Who applied each idempotency key (the agent of the winning epoch). */
  readonly appliedBy = new Map<string, string>();
  /** Writes refused because a newer epoch of the same key was seen (fencing). */
  readonly staleRejected: Array<{ path: string; agentDid: string; epoch: number }> = [];
  private readonly epochs = new Map<string, number>();
  private readonly behaviours = new Map<string, (n: number) => Behaviour>();
  private readonly held = new Set<() => void>();
  private server!: http.Server;
  url = '';

  static async start(): Promise<StepService> {
    const service = new StepService();
    service.server = http.createServer((req, res) => service.handle(req, res));
    await new Promise<void>((resolve) => service.server.listen(0, '127.0.0.1', resolve));
    service.url = `http://127.0.0.1:${(service.server.address() as AddressInfo).port}`;
    return service;
  }

  /** `fn` gets the 1-based count of calls to `path` so far and answers. */
  on(path: string, fn: (n: number) => Behaviour): this {
    this.behaviours.set(path, fn);
    return this;
  }

  callsTo(path: string): number {
    return this.calls.filter((c) => c.path === path).length;
  }

  /** Paths in call order, optionally only undo or only execute calls. */
  paths(mode?: 'execute' | 'undo'): string[] {
    return this.calls.filter((c) => !mode || c.invocation.mode === mode).map((c) => c.path);
  }

  /** Answers every held request with 200 (the effect is then applied once). */
  release(): void {
    for (const go of this.held) go();
    this.held.clear();
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const path = req.url ?? '/';
      const invocation = JSON.parse(body) as StepInvocation;
      this.calls.push({ path, invocation });
      const behaviour = this.behaviours.get(path)?.(this.callsTo(path)) ?? { status: 200 };
      const key = invocation.idempotencyKey;
      this.epochs.set(key, Math.max(this.epochs.get(key) ?? 0, invocation.epoch));
      /** Fencing: a write under an older epoch than one already seen for the key has no effect. */
      const stale = () => invocation.epoch < (this.epochs.get(key) ?? 0);
      const apply = () => {
        if (stale()) {
          this.staleRejected.push({ path, agentDid: invocation.agentDid, epoch: invocation.epoch });
          return false;
        }
        if (!this.applied.includes(key)) this.applied.push(key);
        this.appliedBy.set(key, invocation.agentDid);
        return true;
      };
      const succeed = () => {
        const ok = apply();
        if (res.writableEnded || res.destroyed) return;
        res.writeHead(ok ? 200 : 409, { 'content-type': 'application/json' });
        res.end(JSON.stringify(ok ? { ok: true, path } : { error: 'stale epoch' }));
      };
      if (behaviour === 'applyThenHang') apply();
      if (behaviour === 'lateWrite') {
        this.held.add(succeed);
        return;
      }
      if (behaviour === 'hang' || behaviour === 'applyThenHang') {
        const go = () => succeed();
        this.held.add(go);
        res.on('close', () => {
          if (!res.writableEnded) {
            this.held.delete(go);
            this.aborted.push(path);
          }
        });
        return;
      }
      if (behaviour.status >= 200 && behaviour.status < 300) return succeed();
      res.writeHead(behaviour.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(behaviour.body ?? { error: 'failed on purpose' }));
    });
  }
}

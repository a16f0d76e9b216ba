import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StepInvocation } from '../../domain/saga-types.js';

export type Behaviour =
  | { status: number; body?: unknown }
  /** Hold the request open until released (or the caller gives up). */
  | 'hang'
  /** Apply the effect at once, then hold the response (the caller dies before it hears back). */
  | 'applyThenHang';

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
      const apply = () => {
        if (!this.applied.includes(invocation.idempotencyKey)) this.applied.push(invocation.idempotencyKey);
      };
      const succeed = () => {
        apply();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true, path }));
      };
      if (behaviour === 'applyThenHang') apply();
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

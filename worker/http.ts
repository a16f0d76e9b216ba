import http from 'node:http';
import { Gauge, type Registry } from 'prom-client';

export interface HealthSource {
  /** Liveness: false only when the process cannot recover (the worker failed). */
  live(): boolean;
  /** Readiness: polling Temporal and able to reach Postgres. */
  ready(): Promise<boolean>;
}

/** Where a person or a probe on this machine reaches a server bound to `host` (a wildcard address is `localhost`). */
export function localHttpUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

/**
 * Serves `/metrics` (prom-client registry followed by the Temporal SDK's exporter output, one scrape target per pod),
 * `/healthz` and `/readyz`. None of them asks who is calling: the metrics name task queues, activities and error
 * counts, so the server must be bound (`HV_HTTP_HOST`) where only the scraper and the kubelet can reach it.
 */
export function startHttpServer(options: {
  host: string;
  port: number;
  registry: Registry;
  sdkMetricsUrl: string;
  health: HealthSource;
  /** The running build, on `/healthz` and as `hypervisor_build_info` (worker/build-info.ts). */
  build: { version: string; gitSha: string; buildId: string; deploymentName: string; versioning: boolean };
}): Promise<http.Server> {
  const { build } = options;
  new Gauge({
    name: 'hypervisor_build_info',
    help: 'Always 1; the labels name the build this worker runs and its Temporal deployment version',
    labelNames: ['version', 'git_sha', 'build_id', 'deployment', 'versioning'],
    registers: [options.registry],
  })
    .labels(build.version, build.gitSha, build.buildId, build.deploymentName, build.versioning ? 'on' : 'off')
    .set(1);
  const healthBody = (live: boolean) =>
    `${live ? 'ok' : 'failed'}\nbuild ${build.buildId}\ndeployment ${build.deploymentName}` +
    ` (worker versioning ${build.versioning ? 'on' : 'off'})\n`;
  // What /readyz answers, as a series the `HypervisorWorkerNotReady` alert reads (deploy/prometheus/alerts.yml).
  new Gauge({
    name: 'hypervisor_worker_ready',
    help: '1 while the worker polls Temporal and reaches Postgres (what /readyz answers), else 0',
    registers: [options.registry],
    async collect() {
      this.set((await options.health.ready()) ? 1 : 0);
    },
  });
  const server = http.createServer((req, res) => {
    void (async () => {
      try {
        const url = new URL(req.url ?? '/', 'http://localhost');
        if (req.method !== 'GET') return void res.writeHead(405).end();
        if (url.pathname === '/healthz') {
          const live = options.health.live();
          return void res.writeHead(live ? 200 : 503, { 'content-type': 'text/plain' }).end(healthBody(live));
        }
        if (url.pathname === '/readyz') {
          const ready = await options.health.ready();
          return void res
            .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
            .end(ready ? 'ready\n' : 'not ready\n');
        }
        if (url.pathname === '/metrics') {
          const sdk = await fetch(options.sdkMetricsUrl, { signal: AbortSignal.timeout(2000) })
            .then((r) => r.text())
            .catch(() => '');
          const own = await options.registry.metrics();
          return void res.writeHead(200, { 'content-type': options.registry.contentType }).end(`${own}\n${sdk}`);
        }
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
      }
    })();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve(server));
  });
}

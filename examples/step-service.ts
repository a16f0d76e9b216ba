/**
 * A stand-in for the services a saga's steps call: answers every POST with 200 and logs it, applying each
 * idempotency key once. `FAIL=/app/deploy,…` makes those paths answer 500, to watch a saga compensate.
 *
 *   npx tsx examples/step-service.ts            # listens on http://localhost:8787 (PORT to change)
 */
import http from 'node:http';

const port = Number(process.env.PORT ?? 8787);
const failing = new Set((process.env.FAIL ?? '').split(',').filter(Boolean));
const applied = new Set<string>();

http
  .createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const key = String(req.headers['idempotency-key'] ?? '');
      const step = (JSON.parse(body || '{}') as { stepId?: string; agentDid?: string }) ?? {};
      const fail = failing.has(req.url ?? '');
      const repeat = applied.has(key);
      if (!fail) applied.add(key);
      console.log(
        `${req.method} ${req.url} step=${step.stepId} agent=${step.agentDid} key=${key}` +
          (fail ? ' → 500 (FAIL)' : repeat ? ' → 200 (already applied)' : ' → 200'),
      );
      res.writeHead(fail ? 500 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(fail ? { error: 'failing on purpose' } : { ok: true, path: req.url }));
    });
  })
  .listen(port, () => console.log(`step service on http://localhost:${port}`));

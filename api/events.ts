import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply } from 'fastify';
import { exportAuditEntries, type ExportedEntry } from '../client/audit.js';
import type { SessionHandle } from '../client/hypervisor-client.js';
import type { Pool } from '../store/db.js';

const SESSION_CLOSED_KIND = 'session_archived';
/** A comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

export interface FollowOptions {
  pool: Pool;
  session: SessionHandle;
  /** Entries after this seq are sent (0: the whole chain; a reconnect's Last-Event-ID). */
  afterSeq: number;
  pollMs: number;
}

const frame = (entry: ExportedEntry): string =>
  `id: ${entry.seq}\nevent: ${entry.kind}\ndata: ${JSON.stringify(entry)}\n\n`;

/**
 * Streams a session's persisted audit entries as Server-Sent Events (DESIGN §15.4), the way `hv session watch`
 * follows them (client/cli/watch.ts): it reads the audit store, not the workflow, so a follower costs the session no
 * workflow task and no history; it sends entries only while their seqs are consecutive (the outbox persists in seq
 * order, so a hole is a batch still being written), so a stream has no gaps and, resumed with Last-Event-ID, no
 * duplicates. One indexed range query per poll interval while the client is connected; the stream ends after the
 * session's `session_archived` entry.
 */
export function followSessionEvents(reply: FastifyReply, o: FollowOptions): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write(`retry: ${Math.max(1000, o.pollMs * 4)}\n\n`);
  const stop = new AbortController();
  res.on('close', () => stop.abort());
  void (async () => {
    let last = o.afterSeq;
    let quietSince = Date.now();
    try {
      while (!stop.signal.aborted) {
        let closed = false;
        for await (const entry of exportAuditEntries(o.pool, o.session.sessionId, { afterSeq: last })) {
          if (entry.seq !== last + 1 || stop.signal.aborted) break;
          res.write(frame(entry));
          last = entry.seq;
          quietSince = Date.now();
          closed ||= entry.kind === SESSION_CLOSED_KIND;
        }
        if (closed) break;
        if (Date.now() - quietSince >= KEEPALIVE_MS) {
          res.write(': keepalive\n\n');
          quietSince = Date.now();
        }
        await sleep(o.pollMs, undefined, { signal: stop.signal }).catch(() => undefined);
      }
    } catch (err) {
      if (!stop.signal.aborted)
        res.write(`event: error\ndata: ${JSON.stringify({ detail: (err as Error).message })}\n\n`);
    } finally {
      res.end();
    }
  })();
}

import { mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { CHECKPOINT_FORMAT, type CheckpointStatement } from '../domain/audit-chain.js';

/** A checkpoint as written to the sink: the statement plus its signature (null fields when no key is configured). */
export interface SignedCheckpoint extends CheckpointStatement {
  keyId: string | null;
  signature: string | null;
}

const SignedCheckpointRow = z.object({
  format: z.literal(CHECKPOINT_FORMAT),
  sessionId: z.string(),
  size: z.number().int().nonnegative(),
  root: z.string().regex(/^[0-9a-f]{64}$/),
  final: z.boolean(),
  atMs: z.number().int(),
  keyId: z.string().nullable(),
  signature: z.string().nullable(),
});

/**
 * Where signed checkpoints go: somewhere the audit database's owner cannot rewrite along with the chain
 * (docs/DESIGN.md §5.4). A directory of JSON Lines files (one per session, fsynced) or an HTTP endpoint that
 * receives each checkpoint as a JSON POST.
 */
export interface CheckpointSink {
  readonly description: string;
  write(checkpoint: SignedCheckpoint): Promise<void>;
}

/** The sink `spec` names: an http(s) URL, a `file://` URL or a directory path. */
export function createCheckpointSink(spec: string): CheckpointSink {
  if (/^https?:\/\//.test(spec)) return httpSink(spec);
  return directorySink(spec.startsWith('file://') ? new URL(spec).pathname : spec);
}

/** `encodeURIComponent` keeps session ids (letters, digits, `.`, `_`, `:`, `-`) readable and path-safe. */
export const checkpointFile = (dir: string, sessionId: string): string =>
  path.join(dir, `${encodeURIComponent(sessionId)}.jsonl`);

function directorySink(dir: string): CheckpointSink {
  return {
    description: `directory ${dir}`,
    async write(checkpoint) {
      await mkdir(dir, { recursive: true });
      const file = await open(checkpointFile(dir, checkpoint.sessionId), 'a');
      try {
        await file.write(`${JSON.stringify(checkpoint)}\n`);
        await file.datasync();
      } finally {
        await file.close();
      }
    },
  };
}

function httpSink(url: string): CheckpointSink {
  return {
    description: `endpoint ${url}`,
    async write(checkpoint) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(checkpoint),
        signal: AbortSignal.timeout(10_000),
      });
      // Any non-2xx is retried by the activity; the sink is expected to be idempotent on (sessionId, size, root).
      if (!res.ok) throw new Error(`checkpoint sink ${url} answered ${res.status}`);
    },
  };
}

/** Reads a session's checkpoints from a directory sink; malformed lines are reported, not trusted. */
export async function readCheckpoints(
  dir: string,
  sessionId: string,
): Promise<{ checkpoints: SignedCheckpoint[]; malformed: number }> {
  let text: string;
  try {
    text = await readFile(checkpointFile(dir, sessionId), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { checkpoints: [], malformed: 0 };
    throw err;
  }
  const checkpoints: SignedCheckpoint[] = [];
  let malformed = 0;
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let parsed;
    try {
      parsed = SignedCheckpointRow.safeParse(JSON.parse(line));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success || parsed.data.sessionId !== sessionId) {
      malformed += 1;
      continue;
    }
    // A retried activity may write the same checkpoint twice.
    if (seen.has(line)) continue;
    seen.add(line);
    checkpoints.push(parsed.data);
  }
  return { checkpoints, malformed };
}

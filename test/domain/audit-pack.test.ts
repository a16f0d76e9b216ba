import { describe, expect, it } from 'vitest';
import {
  AUDIT_FORMAT_V1,
  appendEntry,
  genesisHead,
  type AuditFormat,
  type ChainedEntry,
  type ChainHead,
} from '../../domain/audit-chain.js';
import { packBatch, sameFormatRun, unpackBatch } from '../../domain/audit-pack.js';
import { nativeSha256Hex } from '../../store/audit-crypto.js';

function chain(
  n: number,
  runOf: (i: number) => string = () => 'run-1',
  formatOf: (i: number) => AuditFormat | undefined = () => undefined,
): ChainedEntry[] {
  let head: ChainHead = genesisHead();
  return Array.from({ length: n }, (_, i) => {
    const next = appendEntry(head, {
      sessionId: 'ss-pack',
      kind: i % 2 ? 'decision' : 'breach',
      agentDid: i % 3 ? 'did:mesh:a' : null,
      payload: { i, allowed: i % 2 === 0, nested: { list: [i, 'x', null] } },
      recordedAtMs: 1_000 + i,
      workflowId: 'session:ss-pack',
      runId: runOf(i),
      format: formatOf(i),
    });
    head = next.head;
    return next.chained;
  });
}

describe('packed audit batches', () => {
  it('rebuild the very links the workflow made, run ids included, from much less', () => {
    const links = chain(50, (i) => (i < 20 ? 'run-1' : 'run-2')).slice(10);
    const packed = packBatch(links);
    expect(packed.links[0]).toHaveLength(5);
    expect(packed.links[15]).toHaveLength(6);
    expect(unpackBatch('ss-pack', packed, nativeSha256Hex)).toEqual({ links });
    expect(JSON.stringify(packed).length).toBeLessThan(JSON.stringify(links).length / 2);
  });

  it('state a v2 batch format once, and pack v1 links (a run from before v2) exactly as before', () => {
    const v2 = packBatch(chain(3));
    expect(v2.format).toBe('hv-audit-v2');
    const v1Links = chain(
      30,
      (i) => (i < 20 ? 'run-1' : 'run-2'),
      () => AUDIT_FORMAT_V1,
    );
    const v1 = packBatch(v1Links);
    expect(Object.keys(v1).sort()).toEqual(['headHash', 'links', 'prevHash', 'runId', 'workflowId']);
    expect(unpackBatch('ss-pack', v1, nativeSha256Hex)).toEqual({ links: v1Links });
    // A v2 batch claimed as v1 rebuilds to other hashes and is refused.
    const { format: _format, ...unlabelled } = v2;
    expect(unpackBatch('ss-pack', unlabelled, nativeSha256Hex)).toHaveProperty('problem');
  });

  it('hold one format: a run of v1 links is cut where the v2 links begin', () => {
    const links = chain(10, undefined, (i) => (i < 4 ? AUDIT_FORMAT_V1 : undefined));
    expect(sameFormatRun(links)).toBe(4);
    expect(sameFormatRun(links.slice(4))).toBe(6);
    expect(sameFormatRun([])).toBe(0);
    const [first, rest] = [links.slice(0, 4), links.slice(4)];
    expect(unpackBatch('ss-pack', packBatch(first), nativeSha256Hex)).toEqual({ links: first });
    expect(unpackBatch('ss-pack', packBatch(rest), nativeSha256Hex)).toEqual({ links: rest });
  });

  it('refuse a batch whose rebuilt chain does not end at the head the session computed', () => {
    const packed = packBatch(chain(5));
    const tampered = { ...packed, links: packed.links.map((l, i) => (i === 2 ? [...l.slice(0, 4), { i: 99 }] : l)) };
    const refused = unpackBatch('ss-pack', tampered as typeof packed, nativeSha256Hex);
    expect('problem' in refused && refused.problem).toMatch(/rebuilt chain ends at/);
    expect(unpackBatch('ss-other', packed, nativeSha256Hex)).toHaveProperty('problem');
    const gap = { ...packed, links: [packed.links[0]!, packed.links[2]!] };
    expect(unpackBatch('ss-pack', gap, nativeSha256Hex)).toEqual({ problem: 'entry 3 does not follow entry 1' });
  });
});

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  GENESIS_HASH,
  appendEntry,
  canonicalJson,
  chainHash,
  genesisHead,
  sha256Hex,
} from '../../domain/audit-chain.js';

describe('audit chain primitives', () => {
  it('computes the same SHA-256 as node:crypto, including for non-ASCII text', () => {
    for (const text of ['', 'abc', 'did:mesh:ä — ✓', 'x'.repeat(10_000)]) {
      expect(sha256Hex(text)).toBe(createHash('sha256').update(text, 'utf8').digest('hex'));
    }
  });

  it('writes canonical JSON: sorted keys at every level, no whitespace, undefined omitted, non-finite refused', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: 'é' }], c: true }, u: undefined })).toBe(
      '{"a":{"c":true,"d":[3,{"y":"é","z":null}]},"b":1}',
    );
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson({ n: Infinity })).toThrow(TypeError);
  });

  it('links each entry to the previous hash starting from 64 zeros', () => {
    const base = {
      sessionId: 's',
      kind: 'join',
      agentDid: 'did:mesh:a',
      payload: { ring: 2 },
      recordedAtMs: 1,
      workflowId: 'session:s',
      runId: 'r',
    };
    const first = appendEntry(genesisHead(), base);
    expect(first.chained.prevHash).toBe(GENESIS_HASH);
    expect(first.chained.entry).toMatchObject({ seq: 1, format: 'hv-audit-v1' });
    expect(first.chained.hash).toBe(chainHash(GENESIS_HASH, canonicalJson(first.chained.entry)));
    const second = appendEntry(first.head, { ...base, kind: 'leave' });
    expect(second.chained).toMatchObject({ prevHash: first.chained.hash, entry: { seq: 2 } });
    expect(second.head).toEqual({ seq: 2, hash: second.chained.hash });
    // Any change to an entry changes its hash.
    expect(chainHash(GENESIS_HASH, canonicalJson({ ...first.chained.entry, payload: { ring: 1 } }))).not.toBe(
      first.chained.hash,
    );
  });
});

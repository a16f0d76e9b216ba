import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AUDIT_FORMAT,
  AUDIT_FORMAT_V1,
  AUDIT_FORMAT_V2,
  GENESIS_HASH,
  appendEntry,
  batchProblem,
  canonicalJson,
  chainHash,
  entryHash,
  genesisHead,
  hashedEntry,
  payloadDigest,
  sha256Hex,
  withRunId,
  type AuditEntry,
  type AuditFormat,
  type ChainHead,
  type ChainedEntry,
  type NewEntry,
} from '../../domain/audit-chain.js';
import { deepFreeze } from '../helpers/domain.js';

interface GoldenVector {
  input: NewEntry;
  canonicalPayload: string;
  canonicalEntry: string;
  payloadHash: string;
  prevHash: string;
  hash: string;
}

interface GoldenFixture {
  format: string;
  vectors: GoldenVector[];
}

const goldenFile = (name: string): GoldenFixture =>
  JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as GoldenFixture;
const goldens: Record<AuditFormat, GoldenFixture> = {
  [AUDIT_FORMAT_V1]: goldenFile('audit-golden-v1.json'),
  [AUDIT_FORMAT_V2]: goldenFile('audit-golden-v2.json'),
};

/** SHA-256 of the UTF-8 bytes of `text`, computed by node:crypto only. */
const nodeSha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

const SESSION = 'chain-test';

/** The input of the `i`-th entry of a small test chain. */
function input(i: number, overrides: Partial<NewEntry> = {}): NewEntry {
  return {
    sessionId: SESSION,
    kind: i % 2 ? 'decision' : 'join',
    agentDid: i === 0 ? null : `did:mesh:a${i}`,
    payload: { i, text: 'ünïcode ✓', nested: { b: [1, 2.5], a: null } },
    recordedAtMs: 1_700_000_000_000 + i,
    workflowId: `session:${SESSION}`,
    runId: 'run-1',
    ...overrides,
  };
}

/** Appends `inputs` in order from `head` and returns every link plus the final head. */
function chainOf(
  inputs: readonly NewEntry[],
  head: ChainHead = genesisHead(),
): { links: ChainedEntry[]; head: ChainHead } {
  const links: ChainedEntry[] = [];
  for (const next of inputs) {
    const out = appendEntry(head, next);
    head = out.head;
    links.push(out.chained);
  }
  return { links, head };
}

const threeLinks = (): ChainedEntry[] => chainOf([input(0), input(1), input(2)]).links;

describe('audit chain primitives', () => {
  it('computes the same SHA-256 as node:crypto, including for non-ASCII text', () => {
    for (const text of ['', 'abc', 'did:mesh:ä — ✓', '😀 astral', 'nul \u0000 byte', 'x'.repeat(10_000)]) {
      expect(sha256Hex(text)).toBe(nodeSha256(text));
    }
  });

  it('writes canonical JSON: sorted keys at every level, no whitespace, undefined omitted, non-finite refused', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: 'é' }], c: true }, u: undefined })).toBe(
      '{"a":{"c":true,"d":[3,{"y":"é","z":null}]},"b":1}',
    );
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson({ n: Infinity })).toThrow(TypeError);
  });

  it('escapes NUL, quotes and backslashes in strings and keys exactly as JSON.stringify does', () => {
    const text = 'nul \u0000 "quoted" \\ back\nline';
    expect(canonicalJson(text)).toBe(JSON.stringify(text));
    expect(canonicalJson(text)).toBe('"nul \\u0000 \\"quoted\\" \\\\ back\\nline"');
    expect(canonicalJson({ [text]: text })).toBe(`{${JSON.stringify(text)}:${JSON.stringify(text)}}`);
    expect(JSON.parse(canonicalJson({ [text]: text }))).toEqual({ [text]: text });
  });

  it('escapes lone surrogates as JSON.stringify does, so the canonical text is plain ASCII for them', () => {
    for (const text of ['\ud800', 'a\udc00b', '\udbff\ud800']) {
      expect(canonicalJson(text)).toBe(JSON.stringify(text));
      expect(canonicalJson({ [text]: 1 })).toBe(`{${JSON.stringify(text)}:1}`);
    }
    expect(canonicalJson('\ud800')).toBe('"\\ud800"');
    // A well-formed pair is kept as the character itself.
    expect(canonicalJson('😀')).toBe('"😀"');
  });

  it('writes undefined array items as null, as JSON.stringify does', () => {
    expect(canonicalJson([1, undefined, 2])).toBe('[1,null,2]');
    expect(canonicalJson([undefined])).toBe('[null]');
    expect(canonicalJson({ list: [undefined, { a: undefined }] })).toBe('{"list":[null,{}]}');
  });

  it('sorts keys by UTF-16 code unit at every nesting level', () => {
    expect(canonicalJson({ a: 1, B: 2, _: 3, '1': 4 })).toBe('{"1":4,"B":2,"_":3,"a":1}');
    expect(canonicalJson({ z: { b: { y: 1, X: 2 }, a: [{ d: 1, C: 2 }] }, A: null })).toBe(
      '{"A":null,"z":{"a":[{"C":2,"d":1}],"b":{"X":2,"y":1}}}',
    );
    // Code unit order, not code point order: an astral character (surrogate 0xD800…) sorts before U+FFFF.
    expect(canonicalJson({ '\uffff': 1, '\u{10000}': 2, é: 3 })).toBe('{"é":3,"𐀀":2,"￿":1}');
  });

  it('refuses values that have no JSON form', () => {
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(TypeError);
    expect(() => canonicalJson({ n: 1n })).toThrow(TypeError);
  });
});

describe.each([AUDIT_FORMAT_V1, AUDIT_FORMAT_V2] as const)('golden vectors %s', (format) => {
  const golden = goldens[format];

  it('describes its format; new entries are written in v2', () => {
    expect(golden.format).toBe(format);
    expect(golden.vectors.length).toBeGreaterThan(0);
    expect(AUDIT_FORMAT).toBe(AUDIT_FORMAT_V2);
  });

  it('reproduces every canonical text and hash when the inputs are appended in order from genesis', () => {
    let head = genesisHead();
    golden.vectors.forEach((vector, i) => {
      const { head: next, chained } = appendEntry(head, { ...vector.input, format });
      expect(chained.entry.seq).toBe(i + 1);
      expect(canonicalJson(chained.payload)).toBe(vector.canonicalPayload);
      expect(chained.entry.payloadHash).toBe(vector.payloadHash);
      expect(payloadDigest(chained.payload)).toBe(vector.payloadHash);
      expect(canonicalJson(chained.entry)).toBe(vector.canonicalEntry);
      expect(chained.prevHash).toBe(vector.prevHash);
      expect(chained.hash).toBe(vector.hash);
      expect(chained.runId).toBe(vector.input.runId);
      expect(next).toEqual({ seq: i + 1, hash: vector.hash });
      head = next;
    });
  });

  it('agrees with an independent node:crypto computation of every payload hash and link hash', () => {
    let prevHash = GENESIS_HASH;
    for (const vector of golden.vectors) {
      expect(vector.prevHash).toBe(prevHash);
      expect(nodeSha256(vector.canonicalPayload)).toBe(vector.payloadHash);
      expect(nodeSha256(`${vector.prevHash}\n${vector.canonicalEntry}`)).toBe(vector.hash);
      // The canonical entry binds the payload hash, not the payload.
      expect(JSON.parse(vector.canonicalEntry)).toMatchObject({ payloadHash: vector.payloadHash, format });
      expect(JSON.parse(vector.canonicalEntry)).not.toHaveProperty('payload');
      prevHash = vector.hash;
    }
  });
});

describe('hv-audit-v2 against hv-audit-v1', () => {
  it('hashes the same fields except the run id', () => {
    const v2 = goldens[AUDIT_FORMAT_V2].vectors;
    goldens[AUDIT_FORMAT_V1].vectors.forEach((v1, i) => {
      const { runId, ...rest } = JSON.parse(v1.canonicalEntry) as Record<string, unknown>;
      expect(runId).toBe(v1.input.runId);
      expect(JSON.parse(v2[i]!.canonicalEntry)).toEqual({ ...rest, format: AUDIT_FORMAT_V2 });
    });
  });

  it('gives the same link for the same entry recorded by another run, in v2 only', () => {
    const [a, b] = [input(0, { runId: 'run-a' }), input(0, { runId: 'run-b' })];
    const v2 = [appendEntry(genesisHead(), a).chained, appendEntry(genesisHead(), b).chained];
    expect(v2[0]!.hash).toBe(v2[1]!.hash);
    expect(v2.map((l) => l.runId)).toEqual(['run-a', 'run-b']);
    const v1 = [a, b].map((e) => appendEntry(genesisHead(), { ...e, format: AUDIT_FORMAT_V1 }).chained);
    expect(v1[0]!.hash).not.toBe(v1[1]!.hash);
  });

  it('rebuilds each format from its fields and knows no third', () => {
    const v1 = appendEntry(genesisHead(), { ...input(0), format: AUDIT_FORMAT_V1 }).chained;
    const v2 = appendEntry(genesisHead(), input(0)).chained;
    const fields = (link: ChainedEntry) => ({ ...link.entry, runId: link.runId, extra: 'ignored' });
    expect(hashedEntry(SESSION, fields(v1))).toEqual(v1.entry);
    expect(hashedEntry(SESSION, fields(v2))).toEqual(v2.entry);
    expect(hashedEntry(SESSION, { ...fields(v2), format: 'hv-audit-v3' })).toBeNull();
  });

  it('gives a link carried from a run before v2 its run id from its v1 entry', () => {
    const { runId: _runId, ...legacy } = appendEntry(genesisHead(), { ...input(0), format: AUDIT_FORMAT_V1 }).chained;
    expect(withRunId(legacy)).toEqual({ ...legacy, runId: 'run-1' });
    const current = appendEntry(genesisHead(), input(0)).chained;
    expect(withRunId(current)).toBe(current);
  });
});

describe('appendEntry', () => {
  it('numbers entries from 1 and links each to the previous hash, starting from 64 zeros', () => {
    const first = appendEntry(genesisHead(), input(0));
    expect(first.chained.prevHash).toBe(GENESIS_HASH);
    expect(first.chained.entry).toMatchObject({ seq: 1, format: AUDIT_FORMAT, sessionId: SESSION });
    expect(first.chained.hash).toBe(chainHash(GENESIS_HASH, canonicalJson(first.chained.entry)));
    expect(first.head).toEqual({ seq: 1, hash: first.chained.hash });

    const second = appendEntry(first.head, input(1));
    expect(second.chained).toMatchObject({ prevHash: first.chained.hash, entry: { seq: 2 } });
    expect(second.head).toEqual({ seq: 2, hash: second.chained.hash });

    const { links, head } = chainOf([input(0), input(1), input(2), input(3)]);
    expect(links.map((l) => l.entry.seq)).toEqual([1, 2, 3, 4]);
    links.slice(1).forEach((link, i) => expect(link.prevHash).toBe(links[i]?.hash));
    expect(head).toEqual({ seq: 4, hash: links[3]?.hash });
  });

  it('builds the entry from the input fields, the format tag and the payload hash; the run id goes beside it', () => {
    const { chained } = appendEntry({ seq: 41, hash: 'a'.repeat(64) }, input(3));
    expect(chained.entry).toEqual({
      format: AUDIT_FORMAT_V2,
      sessionId: SESSION,
      seq: 42,
      kind: 'decision',
      agentDid: 'did:mesh:a3',
      payloadHash: payloadDigest(input(3).payload),
      recordedAtMs: 1_700_000_000_003,
      workflowId: `session:${SESSION}`,
    } satisfies AuditEntry);
    expect(chained.runId).toBe('run-1');
    expect(chained.payload).toEqual(input(3).payload);
    expect(chained.hash).toBe(entryHash('a'.repeat(64), chained.entry));
  });

  it('still writes a v1 entry, with the run id hashed, when asked to', () => {
    const { chained } = appendEntry({ seq: 41, hash: 'a'.repeat(64) }, { ...input(3), format: AUDIT_FORMAT_V1 });
    expect(chained.entry).toEqual({
      format: AUDIT_FORMAT_V1,
      sessionId: SESSION,
      seq: 42,
      kind: 'decision',
      agentDid: 'did:mesh:a3',
      payloadHash: payloadDigest(input(3).payload),
      recordedAtMs: 1_700_000_000_003,
      workflowId: `session:${SESSION}`,
      runId: 'run-1',
    } satisfies AuditEntry);
    expect(chained.runId).toBe('run-1');
    expect(chained.hash).toBe(entryHash('a'.repeat(64), chained.entry));
  });

  it('does not mutate the head or the input', () => {
    const head = deepFreeze(genesisHead());
    const frozen = deepFreeze(input(0));
    expect(() => appendEntry(head, frozen)).not.toThrow();
    expect(head).toEqual(genesisHead());
  });

  it('changes the payload hash and the link hash when only the payload changes', () => {
    const original = appendEntry(genesisHead(), input(0)).chained;
    const changed = appendEntry(genesisHead(), input(0, { payload: { i: 0, text: 'other' } })).chained;
    expect(changed.entry.payloadHash).not.toBe(original.entry.payloadHash);
    expect(changed.hash).not.toBe(original.hash);
    // Key order in the payload is not significant: the canonical form is hashed.
    const reordered = appendEntry(
      genesisHead(),
      input(0, { payload: { nested: { a: null, b: [1, 2.5] }, text: 'ünïcode ✓', i: 0 } }),
    );
    expect(reordered.chained.hash).toBe(original.hash);
  });

  it('keeps the payload out of the hashed entry, so purging the payload keeps the link hash', () => {
    const { chained } = appendEntry(genesisHead(), input(0));
    expect(chained.entry).not.toHaveProperty('payload');
    expect(canonicalJson(chained.entry)).not.toContain('ünïcode');
    const purged: ChainedEntry = { ...chained, payload: null };
    expect(entryHash(purged.prevHash, purged.entry)).toBe(chained.hash);
  });

  it.each([AUDIT_FORMAT_V1, AUDIT_FORMAT_V2] as const)(
    'changes the %s link hash when any hashed field changes',
    (format) => {
      const { chained } = appendEntry(genesisHead(), { ...input(0), format });
      const variants: Array<Record<string, unknown>> = [
        { sessionId: 'other' },
        { seq: 2 },
        { kind: 'leave' },
        { agentDid: 'did:mesh:x' },
        { payloadHash: '0'.repeat(64) },
        { recordedAtMs: chained.entry.recordedAtMs + 1 },
        { workflowId: 'session:other' },
        { format: format === AUDIT_FORMAT_V1 ? AUDIT_FORMAT_V2 : AUDIT_FORMAT_V1 },
        ...(format === AUDIT_FORMAT_V1 ? [{ runId: 'run-2' }] : []),
      ];
      for (const change of variants) {
        const fields = { ...chained.entry, runId: chained.runId, ...change };
        const changed = hashedEntry(fields.sessionId, fields)!;
        expect(entryHash(GENESIS_HASH, changed), JSON.stringify(change)).not.toBe(chained.hash);
      }
      expect(entryHash('f'.repeat(64), chained.entry)).not.toBe(chained.hash);
      // The run id beside a v2 entry is provenance, not content.
      const otherRun = hashedEntry(SESSION, { ...chained.entry, runId: 'run-2' })!;
      expect(entryHash(GENESIS_HASH, otherRun) === chained.hash).toBe(format === AUDIT_FORMAT_V2);
    },
  );
});

describe('batchProblem', () => {
  it('accepts a well-formed batch of three links', () => {
    expect(batchProblem(SESSION, threeLinks())).toBeNull();
  });

  it('accepts an empty batch and a batch that does not start at genesis', () => {
    expect(batchProblem(SESSION, [])).toBeNull();
    expect(batchProblem(SESSION, threeLinks().slice(1))).toBeNull();
  });

  it('refuses a link of another session', () => {
    expect(batchProblem('other-session', threeLinks())).toBe(`entry 1 belongs to session ${SESSION}`);
  });

  it('refuses a payload that no longer matches its hash', () => {
    const links = threeLinks();
    links[1] = { ...links[1]!, payload: { tampered: true } };
    expect(batchProblem(SESSION, links)).toBe('entry 2: payload does not match its hash');
  });

  it('refuses a tampered entry field', () => {
    const links = threeLinks();
    links[1] = { ...links[1]!, entry: { ...links[1]!.entry, kind: 'tampered' } };
    expect(batchProblem(SESSION, links)).toBe('entry 2: hash does not recompute');
  });

  it('refuses a wrong link hash', () => {
    const links = threeLinks();
    links[2] = { ...links[2]!, hash: 'f'.repeat(64) };
    expect(batchProblem(SESSION, links)).toBe('entry 3: hash does not recompute');
  });

  it('refuses a correctly hashed link whose seq skips a number', () => {
    const { links, head } = chainOf([input(0), input(1)]);
    // Appended after a head that claims one more entry than there is: seq 4, linked to entry 2.
    const skipping = appendEntry({ seq: head.seq + 1, hash: head.hash }, input(2)).chained;
    expect(skipping.entry.seq).toBe(4);
    expect(batchProblem(SESSION, [...links, skipping])).toBe('entry 4 does not follow entry 2');
  });

  it('refuses a correctly hashed link whose prevHash is not the previous hash', () => {
    const { links } = chainOf([input(0), input(1)]);
    // Seq 3, but linked to entry 1 instead of entry 2.
    const relinked = appendEntry({ seq: 2, hash: links[0]!.hash }, input(2)).chained;
    expect(relinked.entry.seq).toBe(3);
    expect(batchProblem(SESSION, [...links, relinked])).toBe('entry 3 does not follow entry 2');
  });

  it('refuses an unknown format', () => {
    const links = threeLinks();
    const entry = { ...links[0]!.entry, format: 'hv-audit-v0' } as unknown as AuditEntry;
    links[0] = { ...links[0]!, entry, hash: entryHash(GENESIS_HASH, entry) };
    expect(batchProblem(SESSION, links)).toBe('entry 1 has unknown format hv-audit-v0');
  });

  it('accepts a batch whose v1 entries are followed by v2 entries (a session that ran across the upgrade)', () => {
    const first = chainOf([input(0), input(1)].map((e) => ({ ...e, format: AUDIT_FORMAT_V1 })));
    const rest = chainOf([input(2), input(3)], first.head);
    const links = [...first.links, ...rest.links];
    expect(links.map((l) => l.entry.format)).toEqual(['hv-audit-v1', 'hv-audit-v1', 'hv-audit-v2', 'hv-audit-v2']);
    expect(batchProblem(SESSION, links)).toBeNull();
  });

  it('refuses a v2 link whose hash covers a field v2 does not hash', () => {
    const links = threeLinks();
    const smuggled = { ...links[0]!.entry, runId: 'run-1' } as unknown as AuditEntry;
    links[0] = { ...links[0]!, entry: smuggled, hash: entryHash(GENESIS_HASH, smuggled) };
    expect(batchProblem(SESSION, links)).toBe('entry 1: hash does not recompute');
  });

  it('refuses a v1 link whose hashed run id is not the one recorded beside it', () => {
    const links = chainOf([{ ...input(0), format: AUDIT_FORMAT_V1 }]).links;
    links[0] = { ...links[0]!, runId: 'run-2' };
    expect(batchProblem(SESSION, links)).toBe('entry 1: its hashed run id is not the run id recorded beside it');
  });

  it('reports the first problem in batch order', () => {
    const links = threeLinks();
    links[2] = { ...links[2]!, hash: 'f'.repeat(64) };
    links[1] = { ...links[1]!, payload: 'tampered' };
    expect(batchProblem(SESSION, links)).toBe('entry 2: payload does not match its hash');
  });
});

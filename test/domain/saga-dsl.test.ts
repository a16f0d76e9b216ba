import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ErrorType, hvErrorDetails } from '../../domain/errors.js';
import {
  SagaDefinition,
  checkpointGoalHash,
  parseSagaDefinition,
  planSaga,
  requiredSuccesses,
  validateSagaDefinition,
  type FanOutPolicy,
  type SagaDefinitionInput,
  type SagaDefinitionIssue,
} from '../../domain/saga-dsl.js';
import { deepFreeze, failureOf } from '../helpers/domain.js';

/** The saga DSL example of the reference README, as the parsed YAML would look. */
const README_EXAMPLE = {
  name: 'deploy-pipeline',
  session_id: 'ss-a1b2c3d4',
  steps: [
    {
      id: 'provision',
      action_id: 'provision-vm',
      agent: 'did:mesh:agent-1',
      execute_api: '/infra/provision',
      undo_api: '/infra/deprovision',
      timeout: 120,
      retries: 2,
    },
    {
      id: 'deploy',
      action_id: 'deploy-app',
      agent: 'did:mesh:agent-2',
      execute_api: '/app/deploy',
      undo_api: '/app/undeploy',
      timeout: 60,
      retries: 1,
    },
  ],
  fan_outs: [{ policy: 'all_must_succeed', branch_step_ids: ['provision', 'deploy'] }],
  metadata: { environment: 'production', owner: 'platform-team' },
} satisfies SagaDefinitionInput;

const step = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id,
  action_id: 'do-work',
  agent: 'did:mesh:agent-1',
  ...extra,
});

/** A minimal definition around `steps` (and optional extra top-level fields). */
const saga = (steps: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'test-saga',
  session_id: 'ss-test',
  steps,
  ...extra,
});

const group = (policy: string, ...branch_step_ids: string[]) => ({ policy, branch_step_ids });

/** The issues of `input`, checked to be the same on a frozen copy (validation never mutates its input). */
function issuesOf(input: unknown): SagaDefinitionIssue[] {
  const issues = validateSagaDefinition(input);
  expect(validateSagaDefinition(deepFreeze(structuredClone(input)))).toEqual(issues);
  return issues;
}

const pathsOf = (input: unknown) => issuesOf(input).map((issue) => issue.path);

/** The one issue at `path`, which must exist. */
function issueAt(input: unknown, path: string): SagaDefinitionIssue {
  const issues = issuesOf(input);
  const found = issues.filter((issue) => issue.path === path);
  expect(found, JSON.stringify(issues)).toHaveLength(1);
  return found[0]!;
}

const stagesOf = (input: unknown) => planSaga(parseSagaDefinition(input)).stages;

describe('the README example', () => {
  it('validates with no issues and parses with defaults applied', () => {
    expect(issuesOf(README_EXAMPLE)).toEqual([]);
    const parsed = parseSagaDefinition(deepFreeze(structuredClone(README_EXAMPLE)));
    expect(parsed).toEqual({
      ...README_EXAMPLE,
      steps: README_EXAMPLE.steps.map((s) => ({ ...s, checkpoint_goal: null, depends_on: [] })),
    });
    expect(parsed.saga_id).toBeUndefined();
    // The parsed definition shares nothing with the input.
    expect(parsed.metadata).not.toBe(README_EXAMPLE.metadata);
    expect(parsed.fan_outs[0]!.branch_step_ids).not.toBe(README_EXAMPLE.fan_outs[0]!.branch_step_ids);
  });

  it('is what examples/saga-deploy.yaml parses to', () => {
    const text = readFileSync(new URL('../../examples/saga-deploy.yaml', import.meta.url), 'utf8');
    expect(text.split('\n')[0]).toBe('# The saga DSL example from the reference README.');
    const raw: unknown = parseYaml(text);
    expect(raw).toEqual(README_EXAMPLE);
    expect(validateSagaDefinition(raw)).toEqual([]);
    expect(parseSagaDefinition(raw)).toEqual(parseSagaDefinition(README_EXAMPLE));
  });

  it('plans as one all_must_succeed fan-out holding both steps', () => {
    expect(stagesOf(README_EXAMPLE)).toEqual([
      { kind: 'fan_out', policy: 'all_must_succeed', stepIds: ['provision', 'deploy'] },
    ]);
  });
});

describe('defaults and accepted forms', () => {
  it('fills every step default and the top-level defaults', () => {
    const parsed = parseSagaDefinition(saga([step('a')]));
    expect(parsed).toEqual({
      name: 'test-saga',
      session_id: 'ss-test',
      steps: [
        {
          id: 'a',
          action_id: 'do-work',
          agent: 'did:mesh:agent-1',
          execute_api: '',
          undo_api: null,
          timeout: 300,
          retries: 0,
          checkpoint_goal: null,
          depends_on: [],
        },
      ],
      fan_outs: [],
      metadata: {},
    });
  });

  it('accepts every field at its bounds, absolute URLs, saga_id and nested JSON metadata', () => {
    const input = saga(
      [
        step('a', {
          execute_api: 'https://infra.example.com:8443/provision?x=1',
          undo_api: 'http://10.0.0.1/undo',
          timeout: 86_400,
          retries: 10,
          checkpoint_goal: 'g'.repeat(500),
        }),
        step('b', { timeout: 1, retries: 0, undo_api: null, depends_on: ['a'] }),
      ],
      { saga_id: 'saga-1', name: 'n'.repeat(200), metadata: { a: [1, 'two', null, true, { deep: { er: 1.5 } }] } },
    );
    expect(issuesOf(input)).toEqual([]);
    const parsed = parseSagaDefinition(input);
    expect(parsed.saga_id).toBe('saga-1');
    expect(parsed.steps[1]!.undo_api).toBeNull();
    expect(parsed.metadata).toEqual({ a: [1, 'two', null, true, { deep: { er: 1.5 } }] });
  });

  it('trims identifiers and the name, and treats an empty undo_api as none', () => {
    const parsed = parseSagaDefinition(
      saga([step(' a '), step('b', { depends_on: [' a'], undo_api: '' })], { name: '  spaced  ' }),
    );
    expect(parsed.name).toBe('spaced');
    expect(parsed.steps.map((s) => s.id)).toEqual(['a', 'b']);
    expect(parsed.steps[1]!.depends_on).toEqual(['a']);
    expect(parsed.steps[1]!.undo_api).toBeNull();
  });

  it('the exported schema enforces the cross-step rules too', () => {
    expect(SagaDefinition.safeParse(README_EXAMPLE).success).toBe(true);
    const result = SagaDefinition.safeParse(saga([step('a'), step('a')]));
    expect(result.success).toBe(false);
    expect(result.error?.issues).toEqual([expect.objectContaining({ path: ['steps', 1, 'id'] })]);
  });
});

describe('schema errors', () => {
  it('reports a missing name, session_id and steps', () => {
    expect(issuesOf({})).toEqual([
      { path: 'name', message: 'is required' },
      { path: 'session_id', message: 'is required' },
      { path: 'steps', message: 'is required' },
    ]);
    expect(issueAt(saga([step('a')], { name: undefined }), 'name').message).toBe('is required');
  });

  it('reports a root that is not an object at (root)', () => {
    expect(issuesOf(undefined)).toEqual([{ path: '(root)', message: 'is required' }]);
    expect(issuesOf('deploy')).toEqual([{ path: '(root)', message: 'must be an object, got string "deploy"' }]);
    expect(issuesOf([])).toEqual([{ path: '(root)', message: 'must be an object, got an array' }]);
    expect(issuesOf(null)).toEqual([{ path: '(root)', message: 'must be an object, got null' }]);
  });

  it('rejects unknown keys at every level, one issue per key', () => {
    expect(issueAt(saga([step('a')], { version: 2 }), 'version').message).toBe('unknown key "version"');
    expect(issuesOf(saga([step('a', { retry: 1, extra: true })]))).toEqual([
      { path: 'steps[0].retry', message: 'unknown key "retry"' },
      { path: 'steps[0].extra', message: 'unknown key "extra"' },
    ]);
    const grouped = saga([step('a'), step('b')], { fan_outs: [{ ...group('any_must_succeed', 'a', 'b'), quorum: 1 }] });
    expect(pathsOf(grouped)).toEqual(['fan_outs[0].quorum']);
  });

  it('rejects strings and booleans where numbers belong (no coercion)', () => {
    expect(issueAt(saga([step('a', { timeout: '120' })]), 'steps[0].timeout').message).toBe(
      'must be a number, got string "120"',
    );
    expect(issueAt(saga([step('a', { retries: true })]), 'steps[0].retries').message).toBe(
      'must be a number, got boolean true',
    );
    expect(pathsOf(saga([step('a', { timeout: null, retries: '1' })]))).toEqual([
      'steps[0].timeout',
      'steps[0].retries',
    ]);
  });

  it('enforces the numeric ranges and integrality', () => {
    const at = (extra: Record<string, unknown>) => pathsOf(saga([step('a', extra)]));
    expect(at({ timeout: 0 })).toEqual(['steps[0].timeout']);
    expect(at({ timeout: 86_401 })).toEqual(['steps[0].timeout']);
    expect(at({ timeout: 1.5 })).toEqual(['steps[0].timeout']);
    expect(at({ timeout: Number.POSITIVE_INFINITY })).toEqual(['steps[0].timeout']);
    expect(at({ timeout: Number.NaN })).toEqual(['steps[0].timeout']);
    expect(at({ retries: -1 })).toEqual(['steps[0].retries']);
    expect(at({ retries: 11 })).toEqual(['steps[0].retries']);
    expect(at({ retries: 0.5 })).toEqual(['steps[0].retries']);
  });

  it('checks the endpoint format of execute_api and undo_api', () => {
    const bad = ['infra/provision', '//evil.example.com/x', 'ftp://host/x', 'https://', '/with space', 'javascript:1'];
    for (const api of bad) {
      expect(pathsOf(saga([step('a', { execute_api: api })])), api).toEqual(['steps[0].execute_api']);
      expect(pathsOf(saga([step('a', { undo_api: api })])), api).toEqual(['steps[0].undo_api']);
    }
    expect(pathsOf(saga([step('a', { execute_api: 'https://user:pw@host/x' })]))).toEqual(['steps[0].execute_api']);
    expect(pathsOf(saga([step('a', { execute_api: `/${'x'.repeat(2048)}` })]))).toEqual(['steps[0].execute_api']);
    expect(issueAt(saga([step('a', { undo_api: 5 })]), 'steps[0].undo_api').message).toBe(
      'must be a string or null, got number 5',
    );
    expect(pathsOf(saga([step('a', { execute_api: null })]))).toEqual(['steps[0].execute_api']);
  });

  it('checks identifiers, the agent DID, the name and checkpoint_goal', () => {
    expect(pathsOf(saga([step('bad id')]))).toEqual(['steps[0].id']);
    expect(pathsOf(saga([step('a', { action_id: '../etc' })]))).toEqual(['steps[0].action_id']);
    // One issue per field: an empty DID is reported as empty, not also as breaking the identifier pattern.
    expect(issueAt(saga([step('a', { agent: '' })]), 'steps[0].agent').message).toBe('agentDid must not be empty');
    expect(issueAt(saga([{ action_id: 'x', agent: 'did:mesh:a' }]), 'steps[0].id').message).toBe('is required');
    expect(pathsOf(saga([step('a')], { session_id: 'has space' }))).toEqual(['session_id']);
    expect(pathsOf(saga([step('a')], { saga_id: '-x' }))).toEqual(['saga_id']);
    expect(pathsOf(saga([step('a')], { name: '   ' }))).toEqual(['name']);
    expect(pathsOf(saga([step('a')], { name: 'n'.repeat(201) }))).toEqual(['name']);
    expect(pathsOf(saga([step('a', { checkpoint_goal: '' })]))).toEqual(['steps[0].checkpoint_goal']);
    expect(pathsOf(saga([step('a', { checkpoint_goal: 'g'.repeat(501) })]))).toEqual(['steps[0].checkpoint_goal']);
  });

  it('bounds the number of steps', () => {
    expect(issueAt(saga([]), 'steps').message).toMatch(/at least 1 step/);
    const many = Array.from({ length: 101 }, (_, i) => step(`s${i}`));
    expect(pathsOf(saga(many))).toEqual(['steps']);
    expect(issuesOf(saga(many.slice(0, 100)))).toEqual([]);
  });

  it('rejects duplicate entries in depends_on', () => {
    const input = saga([step('a'), step('b', { depends_on: ['a', 'a'] })]);
    expect(issuesOf(input)).toEqual([{ path: 'steps[1].depends_on[1]', message: 'duplicate dependency "a"' }]);
  });

  it('rejects an unknown fan-out policy and malformed groups', () => {
    const steps = [step('a'), step('b')];
    expect(issueAt(saga(steps, { fan_outs: [group('all', 'a', 'b')] }), 'fan_outs[0].policy').message).toMatch(
      /must be one of all_must_succeed, majority_must_succeed, any_must_succeed/,
    );
    expect(pathsOf(saga(steps, { fan_outs: [{ policy: 'all_must_succeed' }] }))).toEqual([
      'fan_outs[0].branch_step_ids',
    ]);
    expect(pathsOf(saga(steps, { fan_outs: {} }))).toEqual(['fan_outs']);
  });

  it('accepts only JSON values in metadata', () => {
    const metadata = {
      ok: 'fine',
      list: [1, undefined, Number.POSITIVE_INFINITY],
      when: new Date(0),
      fn: () => 1,
      'odd key': { n: Number.NaN },
    };
    expect(validateSagaDefinition(saga([step('a')], { metadata }))).toEqual([
      { path: 'metadata.list[1]', message: 'must be a JSON value, got undefined' },
      { path: 'metadata.list[2]', message: 'must be a finite number, got Infinity' },
      { path: 'metadata.when', message: 'must be a JSON value, got an object' },
      { path: 'metadata.fn', message: 'must be a JSON value, got function' },
      { path: 'metadata["odd key"].n', message: 'must be a finite number, got NaN' },
    ]);
    expect(pathsOf(saga([step('a')], { metadata: JSON.parse('{"a":{"__proto__":{"x":1}}}') as unknown }))).toEqual([
      'metadata.a.__proto__',
    ]);
    expect(pathsOf(saga([step('a')], { metadata: ['x'] }))).toEqual(['metadata']);
  });

  it('refuses cyclic or absurdly deep metadata instead of overflowing', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const issues = validateSagaDefinition(saga([step('a')], { metadata: cyclic }));
    expect(issues).toHaveLength(1);
    expect(issues[0]!.message).toMatch(/nested more than 32 levels/);
  });
});

describe('cross-step errors', () => {
  it('reports a duplicate step id at the later duplicate', () => {
    expect(issuesOf(saga([step('a'), step('b'), step('a')]))).toEqual([
      { path: 'steps[2].id', message: 'duplicate step id "a"' },
    ]);
  });

  it('reports a dependency on an unknown step', () => {
    expect(issuesOf(saga([step('a'), step('b', { depends_on: ['a', 'ghost'] })]))).toEqual([
      { path: 'steps[1].depends_on[1]', message: 'depends on unknown step "ghost"' },
    ]);
  });

  it('reports a self dependency', () => {
    expect(issuesOf(saga([step('a'), step('b', { depends_on: ['a', 'b'] })]))).toEqual([
      { path: 'steps[1].depends_on', message: 'step "b" depends on itself' },
    ]);
  });

  it('reports one error per dependency cycle, naming its steps', () => {
    const input = saga([
      step('a', { depends_on: ['c'] }),
      step('b', { depends_on: ['a'] }),
      step('c', { depends_on: ['b'] }),
      step('d'),
      step('e', { depends_on: ['f'] }),
      step('f', { depends_on: ['e', 'd'] }),
    ]);
    expect(issuesOf(input)).toEqual([
      { path: 'steps[0].depends_on', message: 'dependency cycle: "a" -> "c" -> "b" -> "a"' },
      { path: 'steps[4].depends_on', message: 'dependency cycle: "e" -> "f" -> "e"' },
    ]);
  });

  it('names every step of an entangled cycle group in its one error', () => {
    const input = saga([
      step('a', { depends_on: ['b'] }),
      step('b', { depends_on: ['a', 'c'] }),
      step('c', { depends_on: ['b'] }),
    ]);
    expect(issuesOf(input)).toEqual([
      { path: 'steps[0].depends_on', message: 'dependency cycle: "a" -> "b" -> "a" (the cycle also involves "c")' },
    ]);
  });

  it('reports a fan-out branch that references an unknown step', () => {
    const input = saga([step('a'), step('b')], { fan_outs: [group('any_must_succeed', 'a', 'b', 'ghost')] });
    expect(issuesOf(input)).toEqual([
      { path: 'fan_outs[0].branch_step_ids[2]', message: 'fan-out branch references unknown step "ghost"' },
    ]);
  });

  it('reports a step that is a branch of two fan-outs', () => {
    const input = saga([step('a'), step('b'), step('c')], {
      fan_outs: [group('all_must_succeed', 'a', 'b'), group('any_must_succeed', 'c', 'b')],
    });
    expect(issuesOf(input)).toEqual([
      {
        path: 'fan_outs[1].branch_step_ids[1]',
        message: 'step "b" is already a branch of fan_outs[0]; a step can be in only one fan-out',
      },
    ]);
  });

  it('reports a fan-out with fewer than two branches', () => {
    const input = saga([step('a'), step('b')], {
      fan_outs: [group('all_must_succeed', 'a'), group('any_must_succeed')],
    });
    expect(issuesOf(input)).toEqual([
      { path: 'fan_outs[0].branch_step_ids', message: 'a fan-out needs at least 2 distinct branches, got 1' },
      { path: 'fan_outs[1].branch_step_ids', message: 'a fan-out needs at least 2 distinct branches, got 0' },
    ]);
  });

  it('reports a duplicate branch within one fan-out', () => {
    const input = saga([step('a'), step('b')], { fan_outs: [group('all_must_succeed', 'a', 'b', 'a')] });
    expect(issuesOf(input)).toEqual([
      { path: 'fan_outs[0].branch_step_ids[2]', message: 'duplicate branch "a" in the same fan-out' },
    ]);
    // A group of one step listed twice is still a group of one.
    expect(pathsOf(saga([step('a'), step('b')], { fan_outs: [group('all_must_succeed', 'a', 'a')] }))).toEqual([
      'fan_outs[0].branch_step_ids[1]',
      'fan_outs[0].branch_step_ids',
    ]);
  });

  it('reports a branch that depends on a sibling branch', () => {
    const input = saga([step('a'), step('b', { depends_on: ['a'] })], {
      fan_outs: [group('majority_must_succeed', 'a', 'b')],
    });
    expect(issuesOf(input)).toEqual([
      {
        path: 'steps[1].depends_on[0]',
        message: '"b" cannot depend on "a": both are branches of fan_outs[0] and run in parallel',
      },
    ]);
  });

  it('reports a branch that depends on a sibling through another step, and fan-outs that wait on each other', () => {
    const through = saga([step('a'), step('x', { depends_on: ['a'] }), step('b', { depends_on: ['x'] })], {
      fan_outs: [group('all_must_succeed', 'a', 'b')],
    });
    expect(issuesOf(through)).toEqual([
      {
        path: 'fan_outs[0]',
        message:
          'fan-out stages cannot be ordered: dependency cycle fan_outs[0] -> "x" -> fan_outs[0] (all branches of a fan-out run together)',
      },
    ]);
    const crossed = saga([step('a', { depends_on: ['c'] }), step('b'), step('c'), step('d', { depends_on: ['b'] })], {
      fan_outs: [group('all_must_succeed', 'a', 'b'), group('any_must_succeed', 'c', 'd')],
    });
    expect(pathsOf(crossed)).toEqual(['fan_outs[0]']);
    expect(() => planSaga(SagaDefinition.parse(README_EXAMPLE))).not.toThrow();
  });

  it('still runs the cross-step checks when unrelated fields are malformed', () => {
    const input = saga([step('a'), step('b', { timeout: -5 }), step('a', { agent: 42 })]);
    expect(pathsOf(input)).toEqual(['steps[1].timeout', 'steps[2].agent', 'steps[2].id']);
  });

  it('does not guess at unknown references when some step has no readable id', () => {
    const input = saga([{ id: 7, action_id: 'x', agent: 'did:mesh:a' }, step('b', { depends_on: ['7'] })]);
    expect(pathsOf(input)).toEqual(['steps[0].id']);
  });
});

describe('many errors at once', () => {
  it('reports a duplicate id, an unknown dependency, an out-of-range timeout and an unknown key together', () => {
    const input = saga([
      step('a'),
      step('a', { timeout: 100_000 }),
      step('c', { depends_on: ['nowhere'], colour: 'blue' }),
    ]);
    expect(issuesOf(input)).toEqual([
      { path: 'steps[1].timeout', message: 'timeout must be at most 86400 seconds' },
      { path: 'steps[2].colour', message: 'unknown key "colour"' },
      { path: 'steps[1].id', message: 'duplicate step id "a"' },
      { path: 'steps[2].depends_on[0]', message: 'depends on unknown step "nowhere"' },
    ]);
  });

  it('parseSagaDefinition throws SagaDefinitionInvalid carrying every issue', () => {
    const input = saga([step('a'), step('a', { timeout: 0 }), step('c', { depends_on: ['x'], y: 1 })]);
    const issues = validateSagaDefinition(input);
    expect(issues).toHaveLength(4);
    const failure = failureOf(() => parseSagaDefinition(input));
    expect(failure.type).toBe(ErrorType.SagaDefinitionInvalid);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe(
      'saga definition has 4 error(s): steps[1].timeout: timeout must be at least 1 second; ' +
        'steps[2].y: unknown key "y"; steps[1].id: duplicate step id "a"; and 1 more',
    );
    expect(hvErrorDetails(failure)).toEqual({ errors: issues });
  });

  it('never throws, whatever it is given', () => {
    const hostile = new Proxy(
      {},
      {
        get: () => {
          throw new Error('boom');
        },
        ownKeys: () => {
          throw new Error('boom');
        },
        getOwnPropertyDescriptor: () => {
          throw new Error('boom');
        },
      },
    );
    for (const input of [hostile, 42, Symbol('s'), () => 1, new Map(), saga([hostile])]) {
      expect(() => validateSagaDefinition(input)).not.toThrow();
      expect(validateSagaDefinition(input).length).toBeGreaterThan(0);
    }
  });
});

describe('planSaga', () => {
  it('keeps a linear chain in order', () => {
    const input = saga([step('a'), step('b', { depends_on: ['a'] }), step('c', { depends_on: ['b'] })]);
    expect(stagesOf(input)).toEqual([
      { kind: 'step', stepId: 'a' },
      { kind: 'step', stepId: 'b' },
      { kind: 'step', stepId: 'c' },
    ]);
  });

  it('runs a step after the later-listed steps it depends on, otherwise in file order', () => {
    const input = saga([step('a', { depends_on: ['c'] }), step('b'), step('c'), step('d')]);
    expect(stagesOf(input).map((stage) => (stage.kind === 'step' ? stage.stepId : stage.stepIds))).toEqual([
      'b',
      'c',
      'a',
      'd',
    ]);
  });

  it('plans a step, a majority fan-out, then a step depending on a branch', () => {
    const input = saga(
      [step('d', { depends_on: ['c'] }), step('a'), step('b', { depends_on: ['a'] }), step('c', { depends_on: ['a'] })],
      { fan_outs: [group('majority_must_succeed', 'c', 'b')] },
    );
    expect(stagesOf(input)).toEqual([
      { kind: 'step', stepId: 'a' },
      { kind: 'fan_out', policy: 'majority_must_succeed', stepIds: ['b', 'c'] },
      { kind: 'step', stepId: 'd' },
    ]);
  });

  it('places a fan-out at its earliest branch once all branch dependencies are met', () => {
    // Group {a, d}: d waits for c, so the group runs after c even though a comes first in the file.
    const late = saga([step('a'), step('b'), step('c'), step('d', { depends_on: ['c'] })], {
      fan_outs: [group('any_must_succeed', 'a', 'd')],
    });
    expect(stagesOf(late)).toEqual([
      { kind: 'step', stepId: 'b' },
      { kind: 'step', stepId: 'c' },
      { kind: 'fan_out', policy: 'any_must_succeed', stepIds: ['a', 'd'] },
    ]);
    // Group {b, d} with no dependencies: it runs where b stands, before c.
    const early = saga([step('a'), step('b'), step('c'), step('d')], {
      fan_outs: [group('all_must_succeed', 'd', 'b')],
    });
    expect(stagesOf(early)).toEqual([
      { kind: 'step', stepId: 'a' },
      { kind: 'fan_out', policy: 'all_must_succeed', stepIds: ['b', 'd'] },
      { kind: 'step', stepId: 'c' },
    ]);
  });

  it('orders two fan-outs by their dependencies and is deterministic', () => {
    const input = saga(
      [step('a', { depends_on: ['c'] }), step('b'), step('c'), step('d'), step('e', { depends_on: ['a', 'd'] })],
      { fan_outs: [group('all_must_succeed', 'a', 'b'), group('any_must_succeed', 'c', 'd')] },
    );
    const expected = [
      { kind: 'fan_out', policy: 'any_must_succeed', stepIds: ['c', 'd'] },
      { kind: 'fan_out', policy: 'all_must_succeed', stepIds: ['a', 'b'] },
      { kind: 'step', stepId: 'e' },
    ];
    const parsed = deepFreeze(parseSagaDefinition(input));
    expect(planSaga(parsed).stages).toEqual(expected);
    expect(planSaga(parsed)).toEqual(planSaga(parsed));
  });

  it('refuses a definition whose cross-step rules do not hold', () => {
    const cyclic = SagaDefinition.safeParse(saga([step('a', { depends_on: ['b'] }), step('b', { depends_on: ['a'] })]));
    expect(cyclic.success).toBe(false);
    const shape = parseSagaDefinition(saga([step('a'), step('b')]));
    const broken = { ...shape, steps: [shape.steps[0]!, { ...shape.steps[1]!, depends_on: ['b'] }] };
    const failure = failureOf(() => planSaga(broken));
    expect(failure.type).toBe(ErrorType.SagaDefinitionInvalid);
    expect(failure.message).toMatch(/depends on itself/);
  });
});

describe('requiredSuccesses', () => {
  it.each<[FanOutPolicy, number[]]>([
    ['all_must_succeed', [1, 2, 3, 4, 5]],
    ['majority_must_succeed', [1, 2, 2, 3, 3]],
    ['any_must_succeed', [1, 1, 1, 1, 1]],
  ])('%s for n = 1..5', (policy, expected) => {
    expect([1, 2, 3, 4, 5].map((n) => requiredSuccesses(policy, n))).toEqual(expected);
  });

  it('majority means strictly more than half', () => {
    for (let n = 1; n <= 20; n++) expect(requiredSuccesses('majority_must_succeed', n) * 2).toBeGreaterThan(n);
  });

  it('refuses a group size that is not a positive integer', () => {
    expect(() => requiredSuccesses('all_must_succeed', 0)).toThrow(RangeError);
    expect(() => requiredSuccesses('any_must_succeed', 1.5)).toThrow(RangeError);
  });
});

describe('checkpointGoalHash', () => {
  it('matches the reference golden value', () => {
    expect(checkpointGoalHash('Deploy', 's1')).toBe('69586af1595fd2c9');
  });

  it('is 16 hex characters and binds both the goal and the step', () => {
    const hash = checkpointGoalHash('Deploy', 's2');
    expect(hash).toMatch(/^[0-9a-f]{16}$/);
    expect(hash).not.toBe(checkpointGoalHash('Deploy', 's1'));
    expect(checkpointGoalHash('Deploy!', 's1')).not.toBe(checkpointGoalHash('Deploy', 's1'));
  });
});

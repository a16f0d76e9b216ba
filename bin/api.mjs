#!/usr/bin/env node
// `npm run api`: the compiled HTTP API from `dist/` when `npm run build` has run, otherwise the TypeScript sources
// through tsx. HV_FROM_SOURCE=1 forces the sources.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/api/main.js', import.meta.url);
if (!process.env.HV_FROM_SOURCE && existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../api/main.ts');
}

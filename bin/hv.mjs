#!/usr/bin/env node
// `hv` entry point: the compiled CLI from `dist/` when `npm run build` has run (fast start), otherwise the TypeScript
// sources through tsx, so no build step is needed after `npm install`. HV_FROM_SOURCE=1 forces the sources.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/client/cli.js', import.meta.url);
if (!process.env.HV_FROM_SOURCE && existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../client/cli.ts');
}

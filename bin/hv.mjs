#!/usr/bin/env node
// `hv` entry point: runs the TypeScript CLI through tsx, so no build step is needed after `npm install`.
import { register } from 'tsx/esm/api';

register();
await import('../client/cli.ts');

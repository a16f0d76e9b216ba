import path from 'node:path';
import { fileURLToPath } from 'node:url';

const parentOfStore = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The repository (or installed package) root: this file lives in `<root>/store/`, or compiled by `npm run build` in
 * `<root>/dist/store/`.
 */
export const projectRoot = path.basename(parentOfStore) === 'dist' ? path.dirname(parentOfStore) : parentOfStore;

/** What `npm run build` writes: the compiled JavaScript and the pre-built workflow bundle. */
export const distDir = path.join(projectRoot, 'dist');

/** The SQL migrations `runMigrations` applies. */
export const migrationsDir = path.join(projectRoot, 'migrations');

/** Persistent state of `npm run dev` (Temporal SQLite file, Postgres data directory, logs). */
export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.HV_DATA_DIR ? path.resolve(env.HV_DATA_DIR) : path.join(projectRoot, '.data');
}

/**
 * Where `npm run dev` keeps its audit signing key pair and its checkpoint directory; the CLI falls back to them, so
 * `hv audit verify` checks a dev chain with no flags.
 */
export const devAuditPaths = (env: NodeJS.ProcessEnv = process.env) => ({
  privateKey: path.join(dataDir(env), 'audit-signing-key.pem'),
  publicKey: path.join(dataDir(env), 'audit-signing-key.pub.pem'),
  checkpoints: path.join(dataDir(env), 'checkpoints'),
  /** The dev internal key (signs internal messages between workflows, docs/DESIGN.md §3.5). */
  internalKey: path.join(dataDir(env), 'internal-signing-key.pem'),
});

import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeyPem, loadSigner, signerFromPem } from '../../store/audit-crypto.js';
import { ConfigError } from '../../store/config.js';
import { InsecureKeyFileError, type KeyFilePolicy } from '../../store/key-file.js';
import { projectRoot } from '../../store/paths.js';
import { loadWorkerEnv } from '../../worker/config.js';
import { ensureDevSigningKey } from '../../worker/dev-keys.js';
import { loadWorkerKeys } from '../../worker/key-files.js';
import { ensureDevInternalKey } from '../../worker/dev-keys.js';
import { generateInternalKey, internalSignerFromPem, loadInternalSigner } from '../../store/internal-crypto.js';

const { privatePem } = generateSigningKeyPem();
const internal = generateInternalKey();
const internalPem = internal.privatePem;
const expectedKeyId = signerFromPem(privatePem).keyId;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hv-keys-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A real key file with exactly `mode`, whatever the umask. */
async function keyFile(name: string, mode: number, text = privatePem): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text, { mode });
  await chmod(file, mode);
  return file;
}

/** A policy that records its warnings. */
function policy(allowInsecure: boolean): KeyFilePolicy & { warnings: string[] } {
  const warnings: string[] = [];
  return { allowInsecure, warnings, warn: (line) => warnings.push(line) };
}

const refusal = (fn: () => unknown): InsecureKeyFileError => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InsecureKeyFileError);
    return err as InsecureKeyFileError;
  }
  throw new Error('expected an InsecureKeyFileError');
};

describe('the audit signing key file', () => {
  it('is refused when group or others can read it, naming the path, the mode and the fix', async () => {
    const file = await keyFile('world-readable.pem', 0o644);
    const p = policy(false);
    const err = refusal(() => loadSigner({ HV_AUDIT_SIGNING_KEY_FILE: file }, p));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toMatchObject({ source: 'HV_AUDIT_SIGNING_KEY_FILE', file });
    expect(err.mode & 0o777).toBe(0o644);
    expect(err.message).toContain(`HV_AUDIT_SIGNING_KEY_FILE ${file} has mode 0644`);
    expect(err.message).toContain(`chmod 600 ${file}`);
    expect(err.message).toContain('HV_ALLOW_INSECURE_KEY_FILE=1');
    expect(p.warnings).toEqual([]);
  });

  it('is refused for any group or other bit, readable or not', async () => {
    for (const mode of [0o640, 0o604, 0o620, 0o602, 0o610]) {
      const file = await keyFile(`mode-${mode.toString(8)}.pem`, mode);
      const err = refusal(() => loadSigner({ HV_AUDIT_SIGNING_KEY_FILE: file }, policy(false)));
      expect(err.message).toContain(`has mode 0${mode.toString(8)}`);
    }
  });

  it('loads when only its owner can access it', async () => {
    for (const mode of [0o600, 0o400]) {
      const file = await keyFile(`owner-only-${mode.toString(8)}.pem`, mode);
      const p = policy(false);
      expect(loadSigner({ HV_AUDIT_SIGNING_KEY_FILE: file }, p)?.keyId).toBe(expectedKeyId);
      expect(p.warnings).toEqual([]);
    }
  });

  it('loads with a warning naming the path and the fix when the override is set', async () => {
    const file = await keyFile('overridden.pem', 0o644);
    const p = policy(true);
    expect(loadSigner({ HV_AUDIT_SIGNING_KEY_FILE: file }, p)?.keyId).toBe(expectedKeyId);
    expect(p.warnings).toHaveLength(1);
    expect(p.warnings[0]).toContain(`${file} has mode 0644`);
    expect(p.warnings[0]).toContain('HV_ALLOW_INSECURE_KEY_FILE is set');
    expect(p.warnings[0]).toContain(`chmod 600 ${file}`);
  });

  it('is a configuration error naming the variable when it does not exist', () => {
    const file = path.join(dir, 'absent.pem');
    expect(() => loadSigner({ HV_AUDIT_SIGNING_KEY_FILE: file }, policy(false))).toThrow(ConfigError);
    expect(() => loadSigner({ HV_AUDIT_SIGNING_KEY_FILE: file }, policy(false))).toThrow(
      `HV_AUDIT_SIGNING_KEY_FILE ${file} cannot be read`,
    );
  });
});

describe('every private key file the worker loads', () => {
  const baseEnv = { DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db', HV_INTERNAL_SIGNING_KEY: internalPem };

  it('checks the Temporal mTLS client key', async () => {
    const file = await keyFile('temporal-client.key', 0o644, 'not parsed here');
    const env = loadWorkerEnv(baseEnv);
    const err = refusal(() => loadWorkerKeys(env, () => undefined, { TEMPORAL_TLS_CLIENT_KEY_PATH: file }));
    expect(err.message).toContain(`TEMPORAL_TLS_CLIENT_KEY_PATH ${file} has mode 0644`);
    await chmod(file, 0o600);
    expect(loadWorkerKeys(env, () => undefined, { TEMPORAL_TLS_CLIENT_KEY_PATH: file })).toMatchObject({
      signer: null,
    });
  });

  it('checks the Postgres sslkey named by DATABASE_URL', async () => {
    const file = await keyFile('postgres-client.key', 0o640, 'not parsed here');
    const env = loadWorkerEnv({
      ...baseEnv,
      DATABASE_URL: `postgres://u@db.internal/hv?sslmode=verify-full&sslkey=${file}`,
    });
    const err = refusal(() => loadWorkerKeys(env, () => undefined, {}));
    expect(err.message).toContain(`DATABASE_URL sslkey ${file} has mode 0640`);
  });

  it('warns about each exposed file and starts when HV_ALLOW_INSECURE_KEY_FILE=1', async () => {
    const signing = await keyFile('all-signing.pem', 0o644);
    const tls = await keyFile('all-tls.key', 0o644, 'not parsed here');
    const env = loadWorkerEnv({ ...baseEnv, HV_AUDIT_SIGNING_KEY_FILE: signing, HV_ALLOW_INSECURE_KEY_FILE: '1' });
    const warnings: string[] = [];
    const keys = loadWorkerKeys(env, (line) => warnings.push(line), { TEMPORAL_TLS_CLIENT_KEY_PATH: tls });
    expect(keys.signer?.keyId).toBe(expectedKeyId);
    expect(warnings).toEqual([expect.stringContaining(signing), expect.stringContaining(tls)]);
  });

  it('accepts only a yes/no value for the override', () => {
    expect(loadWorkerEnv(baseEnv).HV_ALLOW_INSECURE_KEY_FILE).toBe(false);
    expect(loadWorkerEnv({ ...baseEnv, HV_ALLOW_INSECURE_KEY_FILE: 'true' }).HV_ALLOW_INSECURE_KEY_FILE).toBe(true);
    expect(() => loadWorkerEnv({ ...baseEnv, HV_ALLOW_INSECURE_KEY_FILE: 'yes' })).toThrow(
      /HV_ALLOW_INSECURE_KEY_FILE/,
    );
  });
});

describe('the worker process', () => {
  it('refuses to start with a world-readable signing key, naming the path and the fix', async () => {
    const file = await keyFile('process.pem', 0o644);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // Nothing listens there: the refusal must come before any connection is tried.
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      DATABASE_URL: 'postgres://u:p@127.0.0.1:1/db',
      HV_AUDIT_SIGNING_KEY_FILE: file,
    };
    delete env.HV_AUDIT_SIGNING_KEY;
    delete env.HV_ALLOW_INSECURE_KEY_FILE;
    const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
      cwd: projectRoot,
      stdio: ['ignore', 'ignore', 'pipe'],
      env,
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain(`HV_AUDIT_SIGNING_KEY_FILE ${file} has mode 0644`);
    expect(stderr).toContain(`chmod 600 ${file}`);
  });
});

describe('the dev signing key of `npm run dev`', () => {
  it('is generated owner-only and loads under the strict rule', async () => {
    const env = { HV_DATA_DIR: path.join(dir, 'dev-data') };
    const key = await ensureDevSigningKey(env);
    expect(key.created).toBe(true);
    expect((await stat(key.privateKey)).mode & 0o777).toBe(0o600);
    expect(loadSigner({ HV_AUDIT_SIGNING_KEY_FILE: key.privateKey }, policy(false))).not.toBeNull();
    expect(await ensureDevSigningKey(env)).toEqual({ ...key, created: false });
  });

  it('is made owner-only again when it was left readable by others', async () => {
    const env = { HV_DATA_DIR: path.join(dir, 'dev-data-loose') };
    const key = await ensureDevSigningKey(env);
    await chmod(key.privateKey, 0o644);
    expect(await ensureDevSigningKey(env)).toEqual({ ...key, created: false, tightenedFrom: 0o644 });
    expect((await stat(key.privateKey)).mode & 0o777).toBe(0o600);
    expect(loadSigner({ HV_AUDIT_SIGNING_KEY_FILE: key.privateKey }, policy(false))).not.toBeNull();
  });
});

describe('the internal signing key', () => {
  const databaseUrl = 'postgres://u:p@127.0.0.1:5432/db';

  it('is required: the worker does not start without one', () => {
    const env = loadWorkerEnv({ DATABASE_URL: databaseUrl });
    expect(() => loadWorkerKeys(env, () => undefined, {})).toThrow(ConfigError);
    expect(() => loadWorkerKeys(env, () => undefined, {})).toThrow(
      /HV_INTERNAL_SIGNING_KEY or HV_INTERNAL_SIGNING_KEY_FILE/,
    );
  });

  it('is refused from a file that group or others can read, and loaded from an owner-only one', async () => {
    const file = await keyFile('internal.pem', 0o644, internalPem);
    const err = refusal(() => loadInternalSigner({ HV_INTERNAL_SIGNING_KEY_FILE: file }, policy(false)));
    expect(err).toMatchObject({ source: 'HV_INTERNAL_SIGNING_KEY_FILE', file });
    await chmod(file, 0o600);
    expect(loadInternalSigner({ HV_INTERNAL_SIGNING_KEY_FILE: file }, policy(false)).publicKey).toBe(
      internal.publicKey,
    );
  });

  it('accepts the previous public keys of a rotation after its own, and refuses a key that is not one', () => {
    const previous = generateInternalKey().publicKey;
    const signer = loadInternalSigner(
      { HV_INTERNAL_SIGNING_KEY: internalPem, HV_INTERNAL_ACCEPTED_KEYS: ` ${previous.toUpperCase()}, ` },
      policy(false),
    );
    expect(signer.anchors.map((a) => a.publicKey)).toEqual([internal.publicKey, previous]);
    expect(signer.anchors[0]!.kid).toBe(internalSignerFromPem(internalPem).kid);
    expect(() =>
      loadInternalSigner({ HV_INTERNAL_SIGNING_KEY: internalPem, HV_INTERNAL_ACCEPTED_KEYS: 'abc' }, policy(false)),
    ).toThrow(/HV_INTERNAL_ACCEPTED_KEYS/);
    expect(() => internalSignerFromPem(generateSigningKeyPem().publicPem)).toThrow(ConfigError);
  });

  it('is generated owner-only for npm run dev, and reused', async () => {
    const env = { HV_DATA_DIR: path.join(dir, 'dev-internal') };
    const first = await ensureDevInternalKey(env);
    expect(first.created).toBe(true);
    expect((await stat(first.file)).mode & 0o777).toBe(0o600);
    expect(await ensureDevInternalKey(env)).toEqual({ file: first.file, created: false });
  });
});

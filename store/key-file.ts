import { closeSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { ConfigError } from './config.js';

/** The variable that lets a process start with a private key file that group or others can access. */
export const INSECURE_KEY_FILE_OVERRIDE = 'HV_ALLOW_INSECURE_KEY_FILE';

/** What to do with a private key file whose mode lets group or others in. */
export interface KeyFilePolicy {
  /** Load it with a warning instead of refusing (`HV_ALLOW_INSECURE_KEY_FILE`). */
  allowInsecure: boolean;
  warn: (line: string) => void;
}

/** The permission bits as `chmod` writes them, e.g. `0644`. */
const octal = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');

/**
 * A private key file that group or others may read, write or execute. The same rule as OpenSSH's "unprotected private
 * key file": only the owner's bits may be set, because a key someone else can read signs as us, and one they can write
 * can be swapped for theirs.
 */
export class InsecureKeyFileError extends ConfigError {
  override name = 'InsecureKeyFileError';
  /** The problem without the way out, for the warning printed when the override is set. */
  readonly problem: string;

  constructor(
    /** The setting that names the file, e.g. `HV_AUDIT_SIGNING_KEY_FILE`. */
    readonly source: string,
    readonly file: string,
    /** The file's permission bits. */
    readonly mode: number,
  ) {
    const problem =
      `${source} ${file} has mode ${octal(mode)}: group or others can access this private key ` +
      '(only its owner may)';
    super(`${problem}. Fix: chmod 600 ${file} (or set ${INSECURE_KEY_FILE_OVERRIDE}=1 to start anyway)`);
    this.problem = problem;
  }
}

/** Throws {@link InsecureKeyFileError} for an exposed mode, or only warns when the policy allows it. */
function enforceMode(source: string, file: string, mode: number, policy: KeyFilePolicy): void {
  // Windows has no POSIX permission bits: stat reports 0666 whatever the ACL says.
  if (process.platform === 'win32' || (mode & 0o077) === 0) return;
  const error = new InsecureKeyFileError(source, file, mode);
  if (!policy.allowInsecure) throw error;
  policy.warn(
    `warning: ${error.problem}; loading it anyway because ${INSECURE_KEY_FILE_OVERRIDE} is set. Fix: chmod 600 ${file}`,
  );
}

/** A missing or unreadable key file, named by its setting, as a configuration error rather than a bare ENOENT. */
function unreadable(source: string, file: string, err: unknown): ConfigError {
  return new ConfigError(`${source} ${file} cannot be read: ${(err as Error).message}`);
}

/**
 * Reads a private key file after checking its mode on the open descriptor, so the bytes read are those of the file
 * checked (a rename between a stat and a read cannot slip another file in).
 */
export function readPrivateKeyFile(source: string, file: string, policy: KeyFilePolicy): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw unreadable(source, file, err);
  }
  try {
    enforceMode(source, file, fstatSync(fd).mode, policy);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Checks the mode of a private key file that a library reads later itself (the Temporal mTLS client key, the
 * Postgres `sslkey`). The mode is that of the file a symlink points to, as mounted secrets usually are.
 */
export function checkPrivateKeyFile(source: string, file: string, policy: KeyFilePolicy): void {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (err) {
    throw unreadable(source, file, err);
  }
  enforceMode(source, file, mode, policy);
}

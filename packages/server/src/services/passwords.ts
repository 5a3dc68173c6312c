import { createHash, randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';

/**
 * Password hashing: argon2id (@node-rs/argon2, prebuilt) at OWASP's recommended minimum
 * (19 MiB, 2 passes, 1 lane). Measured here: ~20 ms per hash or verify on one core — slow enough
 * to make offline guessing expensive, cheap enough for sign-in. The PHC string carries its
 * parameters, so raising them later re-verifies old hashes unchanged.
 */
// algorithm 2 = Argon2id (the package's Algorithm enum is an ambient const enum, unusable with isolatedModules)
export const ARGON2_PARAMS = { algorithm: 2 as const, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const hashPassword = (password: string): Promise<string> => hash(password, ARGON2_PARAMS);

/** False for a wrong password and for a stored value that is not a valid hash; never throws. */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;
/**
 * The same work as a real verify, for an unknown email or a user without a password: the answer
 * then takes as long as a wrong password, so timing does not tell which emails have accounts.
 */
export async function dummyVerify(password: string): Promise<void> {
  dummy ??= hashPassword(randomBytes(16).toString('base64url'));
  await verifyPassword(await dummy, password);
}

/** 256-bit random token for cookies and links (base64url, 43 characters); only its SHA-256 is stored. */
export const randomToken = (): string => randomBytes(32).toString('base64url');
export const sha256Hex = (s: string): string => createHash('sha256').update(s).digest('hex');

import { createHash, randomBytes } from 'node:crypto';

/** `assay_` + 32 base64url chars = 192 random bits. Only the SHA-256 is stored. */
export function generateApiKey(): { apiKey: string; prefix: string; keyHash: string } {
  const apiKey = `assay_${randomBytes(24).toString('base64url')}`;
  return { apiKey, prefix: apiKey.slice(0, 12), keyHash: hashApiKey(apiKey) };
}

export const hashApiKey = (key: string) => createHash('sha256').update(key).digest('hex');

/** A PostgreSQL unique-constraint violation (SQLSTATE 23505), from node-postgres or PGlite, wrapped by Drizzle or not. */
export function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: string; cause?: { code?: string } }).code ?? (e as { cause?: { code?: string } }).cause?.code;
  return code === '23505';
}

/** Quotes a PostgreSQL identifier only when it needs it (lower-case names stay readable in DDL and logs). */
export function ident(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`
}

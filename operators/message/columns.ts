/** Start-up checks of the columns a message config names, against the model's columns from the catalog. */
import type { ConfigIssue } from '../../core/errors.ts'
import type { ColumnInfo } from '../../core/changes.ts'

/**
 * Types emitted bare at a JSON value position even when their value arrives as a string (float NaN/Infinity
 * stay quoted: they are no JSON number). int8 beyond 2^53 and numeric stay strings everywhere, as in the
 * other message modes: a consumer's JSON parser would otherwise round them.
 */
const NUMERIC_TYPES = new Set(['int2', 'int4', 'float4', 'float8', 'oid'])

export class ColumnIndex {
  private readonly byName: ReadonlyMap<string, ColumnInfo>

  constructor(
    columns: readonly ColumnInfo[],
    /** Shown in errors, e.g. `public.users`. */
    readonly modelName: string,
  ) {
    this.byName = new Map(columns.map((c) => [c.name, c]))
  }

  get(name: string): ColumnInfo | undefined {
    return this.byName.get(name)
  }

  isNumeric(name: string): boolean {
    const column = this.byName.get(name)
    return column !== undefined && NUMERIC_TYPES.has(column.typeName)
  }

  /** An issue if the column does not exist, else undefined. */
  check(name: string, path: string): ConfigIssue | undefined {
    if (this.byName.has(name)) return undefined
    return { path, message: `column ${JSON.stringify(name)} does not exist in ${this.modelName}` }
  }
}

/** `base.key`, or `base["key"]` when the key is not a plain identifier. */
export function childPath(base: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`
}

import type { ColumnInfo } from '../../core/changes.ts'
import { columnOfTypeOid } from './type-oids.ts'
import { parserForColumn, type ValueParser } from './values.ts'

/**
 * What a sync does when a Relation message shows its table changed shape while streaming:
 * `fail` stops it (non-retriable) at the first change to a model column; `follow` carries on with the new shape.
 */
export type SchemaChanges = 'fail' | 'follow'

export interface ShapeOptions {
  /** The model's columns as the sync was built for them (the catalog at start-up). */
  model: readonly ColumnInfo[]
  /** The columns the stream carried at start-up, in order (the table's, or the publication's column list): tells a rename from a drop. */
  streamed: readonly string[]
  /** The model names its columns (model.columns): a column added to the table stays out. */
  projected: boolean
  policy: SchemaChanges
  /** Columns the sync's config names (key, mapping, partition…): their loss stops the sync whatever the policy. */
  required: readonly string[]
  /** Values are encoded with a schema registered at start-up (Avro, JSON Schema): a type change stops the sync. */
  fixedSchema: boolean
}

/** A column of a Relation message. */
export interface StreamedColumn {
  name: string
  typeOid: number
}

export interface RelationPlan {
  /** Per column of the Relation message: its parser, null when it is outside the model (skipped unread). */
  parsers: (ValueParser | null)[]
  /** Per column: the type its parser reads (typname, `[]element` for arrays), null outside the model; equal lists decode alike. */
  decodedAs: (string | null)[]
  /** The changes against the model that the sync follows, for the log (empty: the shape it was built for). */
  followed: string[]
  /** Why the sync must stop (names the table, the column and the change), or null. */
  stop: string | null
}

/**
 * Compares each Relation message with the model the sync was built for and picks every column's parser by
 * its type OID now. Only Relation messages come here (rare: once per session and after each DDL), never rows.
 */
export class RelationShapes {
  readonly #options: ShapeOptions
  readonly #model: ReadonlyMap<string, { column: ColumnInfo; parser: ValueParser }>
  #previous: readonly string[]

  constructor(options: ShapeOptions) {
    this.#options = options
    this.#model = new Map(options.model.map((c) => [c.name, { column: c, parser: parserForColumn(c) }]))
    this.#previous = options.streamed
  }

  /** The model's column names, in order. */
  get modelColumns(): string[] {
    return [...this.#model.keys()]
  }

  plan(table: string, columns: readonly StreamedColumn[]): RelationPlan {
    const { projected, policy, required, fixedSchema } = this.#options
    const followed: string[] = []
    const stops: string[] = []
    const change = (text: string, stop: boolean) => (stop ? stops : followed).push(text)
    const names = new Set(columns.map((c) => c.name))
    const gone = [...this.#model.keys()].filter((name) => !names.has(name)).map((name) => ({ name, renamed: this.#renamedTo(name, columns) }))
    const renamedTo = new Set(gone.map((g) => g.renamed))
    const decodedAs: (string | null)[] = []
    const parsers = columns.map(({ name, typeOid }): ValueParser | null => {
      const known = this.#model.get(name)
      if (known === undefined) {
        if (projected) {
          decodedAs.push(null)
          return null
        }
        if (!this.#previous.includes(name) && !renamedTo.has(name)) followed.push(`column "${name}" added`)
        return parserOf(columnOfTypeOid(name, typeOid), decodedAs)
      }
      if (known.column.typeOid === typeOid) {
        decodedAs.push(typeKey(known.column))
        return known.parser
      }
      const now = columnOfTypeOid(name, typeOid)
      const compatible = sameKind(known.column, now)
      const text = `column "${name}" changed type from ${known.column.typeName} to ${now.typeName}`
      change(fixedSchema ? `${text}, but its values are encoded with the schema registered at start-up` : text, fixedSchema || (!compatible && policy === 'fail'))
      return parserOf(now, decodedAs)
    })
    for (const { name, renamed } of gone) {
      const text = `column "${name}" ${renamed === undefined ? 'dropped' : `renamed to "${renamed}"`}`
      if (required.includes(name)) change(`${text}, which the sync's config names`, true)
      else change(text, policy === 'fail')
    }
    this.#previous = columns.map((c) => c.name)
    const remedy = policy === 'fail' ? 'set schemaChanges: follow on the sync to carry on with the new shape, or change' : 'change'
    const stop = stops.length === 0 ? null : `schema change on ${table}: ${stops.join('; ')}. The sync stops (schemaChanges: ${policy}) rather than send values of another shape: ${remedy} the config to the new columns (rowcast resync re-sends the model as it is now)`
    return { parsers, decodedAs, followed, stop }
  }

  /** A rename keeps the column's place: the same number of columns, and a name the model does not know where it stood. */
  #renamedTo(name: string, columns: readonly StreamedColumn[]): string | undefined {
    const at = this.#previous.indexOf(name)
    if (at < 0 || columns.length !== this.#previous.length) return undefined
    const now = columns[at]?.name
    return now !== undefined && !this.#model.has(now) && !this.#previous.includes(now) ? now : undefined
  }
}

/** What parserForColumn reads a column's text as: columns with equal keys get parsers that give equal values. */
function typeKey(column: Pick<ColumnInfo, 'typeName' | 'elementTypeName'>): string {
  return column.elementTypeName === undefined ? column.typeName : `[]${column.elementTypeName}`
}

function parserOf(column: ColumnInfo, decodedAs: (string | null)[]): ValueParser {
  decodedAs.push(typeKey(column))
  return parserForColumn(column)
}

/** Whether a consumer gets the same kind of JSON value from both types (a number stays a number, text stays text). */
function sameKind(a: ColumnInfo, b: ColumnInfo): boolean {
  return (a.elementTypeName === undefined) === (b.elementTypeName === undefined) && kind(a.elementTypeName ?? a.typeName) === kind(b.elementTypeName ?? b.typeName)
}

const KINDS: Record<string, string> = {
  int2: 'integer', int4: 'integer', int8: 'integer', oid: 'integer',
  float4: 'float', float8: 'float',
  text: 'text', varchar: 'text', bpchar: 'text', name: 'text',
  json: 'json', jsonb: 'json',
}

function kind(typeName: string): string {
  return KINDS[typeName] ?? typeName
}

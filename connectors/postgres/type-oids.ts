import type { ColumnInfo } from '../../core/changes.ts'

/**
 * The built-in types by OID (fixed in every PostgreSQL, pg_type.dat), so a Relation message's type OID names the
 * type a column has now, without a catalog query in the middle of the stream. A user type (enum, domain,
 * composite) has no entry: its text is its value, as for any type the value parsers do not know.
 */
const SCALARS: Record<number, string> = {
  16: 'bool', 17: 'bytea', 18: 'char', 19: 'name', 20: 'int8', 21: 'int2', 23: 'int4', 25: 'text', 26: 'oid',
  114: 'json', 142: 'xml', 700: 'float4', 701: 'float8', 790: 'money', 829: 'macaddr', 869: 'inet', 650: 'cidr',
  1042: 'bpchar', 1043: 'varchar', 1082: 'date', 1083: 'time', 1114: 'timestamp', 1184: 'timestamptz',
  1186: 'interval', 1266: 'timetz', 1560: 'bit', 1562: 'varbit', 1700: 'numeric', 2950: 'uuid', 3802: 'jsonb',
}
const ARRAYS: Record<number, number> = {
  1000: 16, 1001: 17, 1002: 18, 1003: 19, 1016: 20, 1005: 21, 1007: 23, 1009: 25, 1028: 26, 199: 114, 143: 142,
  1021: 700, 1022: 701, 791: 790, 1040: 829, 1041: 869, 651: 650, 1014: 1042, 1015: 1043, 1182: 1082, 1183: 1083,
  1115: 1114, 1185: 1184, 1187: 1186, 1270: 1266, 1561: 1560, 1563: 1562, 1231: 1700, 2951: 2950, 3807: 3802,
}

/** The column as its type OID says it is now; a type rowcast does not know by OID is text (`typeName` is `oid <n>`). */
export function columnOfTypeOid(name: string, typeOid: number): ColumnInfo {
  const scalar = SCALARS[typeOid]
  if (scalar !== undefined) return { name, typeOid, typeName: scalar, nullable: true }
  const element = ARRAYS[typeOid]
  const elementName = element === undefined ? undefined : SCALARS[element]
  if (elementName !== undefined) return { name, typeOid, typeName: `_${elementName}`, nullable: true, elementTypeName: elementName }
  return { name, typeOid, typeName: `oid ${typeOid}`, nullable: true }
}

/** Whether `oid` is a type rowcast knows by its OID. */
export function knownTypeOid(typeOid: number): boolean {
  return SCALARS[typeOid] !== undefined || ARRAYS[typeOid] !== undefined
}

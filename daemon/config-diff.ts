import type { RowcastConfig, SyncConfig } from '../config/root-schema.ts'

/** What a new config changes against the running one, for a reload (SIGHUP). */
export interface ConfigDiff {
  /** Top-level sections other than `syncs` whose values differ: a reload cannot apply them (restart to). */
  outside: string[]
  added: SyncConfig[]
  /** Syncs of the same name whose settings differ: stopped (drained, confirmed) and started anew. */
  changed: SyncConfig[]
  removed: string[]
}

/** Compares two parsed configs by value; sync identity is its name. */
export function diffConfig(running: RowcastConfig, next: RowcastConfig): ConfigDiff {
  const sections = new Set([...Object.keys(running), ...Object.keys(next)].filter((key) => key !== 'syncs'))
  const outside = [...sections].filter((key) => !sameValue(section(running, key), section(next, key))).sort()
  const before = new Map(running.syncs.map((sync) => [sync.name, sync]))
  const after = new Set(next.syncs.map((sync) => sync.name))
  return {
    outside,
    added: next.syncs.filter((sync) => !before.has(sync.name)),
    changed: next.syncs.filter((sync) => before.has(sync.name) && !sameValue(before.get(sync.name), sync)),
    removed: running.syncs.map((sync) => sync.name).filter((name) => !after.has(name)),
  }
}

function section(config: RowcastConfig, key: string): unknown {
  return (config as unknown as Record<string, unknown>)[key]
}

/** Deep equality of parsed config values (plain data: objects, arrays, strings, numbers, booleans). */
function sameValue(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b)
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) : v,
  ) ?? 'undefined'
}

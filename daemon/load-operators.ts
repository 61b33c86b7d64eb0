import { isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { OutgoingMessage } from '../core/changes.ts'
import type { OperatorModule } from '../config/root-schema.ts'
import { ConfigError } from '../core/errors.ts'
import { INSERTION_POINTS, insertionPoint, type InsertedOperator, type InsertionPoint, type OperatorInsertions } from '../pipeline/steps.ts'

/** What a config file's operator gets by default (at the end): the messages as they go to Kafka. */
export type MessageOperator = InsertedOperator<OutgoingMessage>

/**
 * Imports each `operators:` module of a sync; its default export (or `operator`) must be an OperatorFunction.
 * Returns them by insertion point, in the order listed. That an operator fits its point's types is the
 * module author's promise: TypeScript checks it in their file, not here.
 */
export async function loadOperators(modules: readonly OperatorModule[], baseDir: string, index: number): Promise<OperatorInsertions> {
  const byPoint = new Map<InsertionPoint, unknown[]>()
  for (const [i, { module, after }] of modules.entries()) {
    const file = isAbsolute(module) ? module : resolve(baseDir, module)
    const path = `syncs[${index}].operators[${i}]`
    let loaded: Record<string, unknown>
    try {
      await typeScriptLoaderFor(file)
      loaded = (await import(pathToFileURL(file).href)) as Record<string, unknown>
    } catch (error) {
      throw new ConfigError([{ path, message: `cannot load ${file}: ${(error as Error).message}` }])
    }
    const operator = loaded.default ?? loaded.operator
    if (typeof operator !== 'function') {
      throw new ConfigError([{ path, message: `${file} must export an RxJS OperatorFunction as default (or as "operator")` }])
    }
    const point = insertionPoint(after)
    byPoint.set(point, [...(byPoint.get(point) ?? []), operator])
  }
  return Object.fromEntries(byPoint) as OperatorInsertions
}

/** The library's `operators` option: for a sync that does not exist, or at a point that does not, they would silently never run. */
export function checkOperatorOptions(syncNames: readonly string[], operators: Readonly<Record<string, OperatorInsertions>>): void {
  const points = new Set<string>(INSERTION_POINTS)
  const issues = Object.entries(operators).flatMap(([name, insertions]) => [
    ...(syncNames.includes(name) ? [] : [{ path: `operators.${name}`, message: `no sync named "${name}" (syncs: ${syncNames.join(', ')})` }]),
    ...Object.keys(insertions)
      .filter((point) => !points.has(point))
      .map((point) => ({ path: `operators.${name}.${point}`, message: `not an insertion point (${INSERTION_POINTS.join(', ')})` })),
  ])
  if (issues.length > 0) throw new ConfigError(issues)
}

let typeScriptLoader = false
/**
 * Node cannot import TypeScript: the first operator module named with a .ts/.mts/.cts file registers tsx's loader
 * (a dependency), once per process. Where tsx is already on (`node --import tsx`), a second registration is harmless.
 */
export async function typeScriptLoaderFor(file: string): Promise<void> {
  if (typeScriptLoader || !/\.[cm]?ts$/.test(file)) return
  const { register } = await import('tsx/esm/api')
  register()
  typeScriptLoader = true
}

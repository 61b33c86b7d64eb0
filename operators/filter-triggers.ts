import { map, type OperatorFunction } from 'rxjs'
import { z } from 'zod'
import { mapItems, type Batch, type ModelChange } from '../core/changes.ts'
import type { ChangeType } from '../core/changes.ts'

export const triggersSchema = z
  .array(z.enum(['added', 'changed', 'removed']))
  .nonempty()
  .refine((t) => new Set(t).size === t.length, 'each trigger may be listed once')
  .default(['added', 'changed', 'removed'])

/**
 * Keeps the row changes whose type is one of the sync's triggers; the others are dropped, counted, and
 * (when `onDropped` is given, e.g. for the live debugger) handed over.
 */
export function filterTriggers(
  triggers: readonly ChangeType[],
  onFiltered?: (count: number) => void,
  onDropped?: (changes: readonly ModelChange[]) => void,
): OperatorFunction<Batch<ModelChange>, Batch<ModelChange>> {
  const keep = new Set(triggers)
  if (keep.size === 3) return map((batch) => batch)
  return map((batch) => {
    const out = mapItems(batch, (change) => (keep.has(change.type) ? change : undefined))
    const dropped = batch.items.length - out.items.length
    if (dropped > 0) {
      onFiltered?.(dropped)
      onDropped?.(batch.items.filter((change) => !keep.has(change.type)))
    }
    return out
  })
}

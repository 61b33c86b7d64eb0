import { Observable } from 'rxjs'
import type { Batch, OutgoingMessage } from '../../core/changes.ts'

/**
 * A custom operator that breaks the batch-order contract (as mergeMap with delays or buffering can): it holds
 * each batch until the next one arrives, then lets the later one pass first. For the ordering tests.
 */
export default function swapPairs(batches: Observable<Batch<OutgoingMessage>>): Observable<Batch<OutgoingMessage>> {
  return new Observable((out) => {
    let held: Batch<OutgoingMessage> | null = null
    return batches.subscribe({
      next(batch) {
        if (held === null) {
          held = batch
          return
        }
        out.next(batch)
        out.next(held)
        held = null
      },
      error: (error: unknown) => out.error(error),
      complete: () => out.complete(),
    })
  })
}

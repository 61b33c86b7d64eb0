import type pg from 'pg'
import type { ColumnInfo } from '../../core/changes.ts'
import type { ShapeOptions } from './relation-shape.ts'

/** The model shape a sync was built for, kept in _rowcast.sync_state next to the stream it reads. */
interface RecordedShape {
  model: ColumnInfo[]
  streamed: string[]
}

/**
 * The shape the stream is compared with. Under `schemaChanges: fail` a resumed stream is compared with the shape
 * recorded when the sync started streaming from its slot, not with the table as it is now: a sync stopped by a
 * schema change stays stopped on every retry and restart (the WAL it resumes in still holds the change), rather
 * than going on with the new shape once it happens to resume past it. A fresh stream (new slot, backfill,
 * resync) or `follow` records the table as it is now.
 */
export async function settleShape(client: pg.ClientBase, sync: string, current: ShapeOptions, fresh: boolean): Promise<ShapeOptions> {
  await client.query('ALTER TABLE _rowcast.sync_state ADD COLUMN IF NOT EXISTS model_shape jsonb')
  if (!fresh && current.policy === 'fail') {
    const { rows } = await client.query<{ shape: RecordedShape | null }>('SELECT model_shape AS shape FROM _rowcast.sync_state WHERE sync = $1', [sync])
    const recorded = rows[0]?.shape
    if (recorded !== null && recorded !== undefined) return { ...current, ...recordedModel(recorded, current) }
  }
  const shape: RecordedShape = { model: [...current.model], streamed: [...current.streamed] }
  await client.query('UPDATE _rowcast.sync_state SET model_shape = $2 WHERE sync = $1', [sync, JSON.stringify(shape)])
  return current
}

/**
 * Without a projection the model is the recorded one (a column gone since is still expected, so its loss stops the
 * sync). With one, the projection is the config's (start-up checked that its columns exist), each column with the
 * type it was recorded with.
 */
function recordedModel(recorded: RecordedShape, current: ShapeOptions): Pick<ShapeOptions, 'model' | 'streamed'> {
  if (!current.projected) return recorded
  const byName = new Map(recorded.model.map((c) => [c.name, c]))
  return { model: current.model.map((c) => byName.get(c.name) ?? c), streamed: current.streamed }
}

/**
 * rowcast's advisory lock keys: the two-int form (class, object), with classes of rowcast's own, so they cannot
 * collide with an application's one-bigint locks (a separate key space in PostgreSQL) nor with other tools that
 * pick small class numbers. Objects are hashtext() of a name, computed by the server.
 */

/** 'RWCS': one lock per sync, held by the daemon that streams it (session-level, on its control connection). */
export const SYNC_LOCK_CLASS = 0x52574353

/** 'RWCT': rowcast's schema setup (CREATE SCHEMA/TABLE IF NOT EXISTS race without it), object 0. */
export const SETUP_LOCK_CLASS = 0x52574354

/** SQL for taking a sync's lock without waiting; `$1` is the sync's name. */
export const TRY_SYNC_LOCK_SQL = `SELECT pg_try_advisory_lock(${SYNC_LOCK_CLASS}, hashtext('rowcast:sync:' || $1)) AS locked`

/** SQL that serializes rowcast's DDL until the end of the transaction it runs in. */
export const SETUP_LOCK_SQL = `SELECT pg_advisory_xact_lock(${SETUP_LOCK_CLASS}, 0)`

/** SQL for taking a stream group's lock without waiting (same class as a sync's, its own names); `$1` is the group's slot. */
export const TRY_GROUP_LOCK_SQL = `SELECT pg_try_advisory_lock(${SYNC_LOCK_CLASS}, hashtext('rowcast:group:' || $1)) AS locked`

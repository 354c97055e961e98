'use strict'
/**
 * evtstore's providers over the store the harness made for this run: the in-memory
 * provider, the Knex provider on SQLite and the node-postgres provider on a PostgreSQL
 * database. Both SQL providers page reads at `limit: 1000`, as every provider example in
 * evtstore's docs does.
 *
 * Knex runs SQLite on `better-sqlite3`, not the `sqlite3` its docs name: loads were about
 * 1.3x faster on it side by side here, and the peer should be the faster one.
 */
const LIMIT = 1000
const TABLES = { events: 'events', bookmarks: 'bookmarks' }
const SYNCHRONOUS = { 0: 'OFF', 1: 'NORMAL', 2: 'FULL', 3: 'EXTRA' }

/** `{ provider, settings(), close() }` for `backend` at `target` (a path or a DSN). */
async function openStore(backend, target) {
  if (backend === 'memory') {
    const { createProvider } = require('evtstore/provider/memory')
    return { provider: createProvider(), settings: async () => null, close: async () => {} }
  }
  if (backend === 'sqlite') {
    const knex = require('knex')
    const { createProvider, migrate } = require('evtstore/provider/knex')
    const connection = { filename: target }
    const db = knex({ client: 'better-sqlite3', connection, useNullAsDefault: true })
    await migrate({ client: db, ...TABLES })
    const provider = createProvider({
      limit: LIMIT,
      events: () => db.table(TABLES.events),
      bookmarks: () => db.table(TABLES.bookmarks),
    })
    const settings = async () => {
      const [mode] = await db.raw('PRAGMA journal_mode')
      const [level] = await db.raw('PRAGMA synchronous')
      const synchronous = SYNCHRONOUS[level.synchronous] ?? String(level.synchronous)
      return { journal_mode: String(mode.journal_mode), synchronous }
    }
    return { provider, settings, close: () => db.destroy() }
  }
  if (backend === 'postgres') {
    const { Pool } = require('pg')
    const { createProvider, migrate } = require('evtstore/provider/pg')
    const client = new Pool({ connectionString: target })
    await migrate({ client, ...TABLES })
    const provider = createProvider({ client, limit: LIMIT, ...TABLES })
    return { provider, settings: async () => null, close: () => client.end() }
  }
  throw new Error(`unknown evtstore backend ${backend}`)
}

module.exports = { openStore }

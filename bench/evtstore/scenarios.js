'use strict'
/**
 * S1-S4 on evtstore, the same work as bench/evtsrc_scenarios.py, with the same checks:
 * each returns `{ count, seconds, extra }` and throws when a check fails.
 */
const assert = require('node:assert/strict')
const { performance } = require('node:perf_hooks')
const { STREAM, createBank } = require('./model')

// Events per setup append: 500, not the Python side's 1000, because the Knex provider
// inserts an append as one multi-row INSERT, which Knex writes for SQLite as a compound
// SELECT, and SQLite allows at most 500 terms in one (SQLITE_MAX_COMPOUND_SELECT).
const SEED_STEP = 500
const clock = () => performance.now() / 1000

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** Setup: open the account and deposit until it has `events` events, in big appends. */
async function seed(bank, id, events) {
  const first = Math.min(events - 1, SEED_STEP - 1)
  await bank.commands.seed(id, { owner: 'o', deposits: first })
  for (let remaining = events - 1 - first; remaining > 0; ) {
    const step = Math.min(remaining, SEED_STEP)
    await bank.commands.seed(id, { owner: 'o', deposits: step })
    remaining -= step
  }
}

/** A fresh handler (bookmark kept by the provider) summing deposits, and what it stored. */
function depositTotal(bank, provider, name) {
  const seen = { total: 0, bookmarksStored: 0 }
  const setPosition = provider.setPosition
  provider.setPosition = async (bookmark, position) => {
    if (bookmark === name) seen.bookmarksStored++
    return setPosition(bookmark, position)
  }
  const handler = bank.createHandler(name, [STREAM])
  handler.handle(STREAM, 'deposited', async (_id, evt) => {
    seen.total += evt.amount
  })
  return { handler, seen }
}

/** After catch-up the stored bookmark is the last event's position. */
async function assertCaughtUp(provider, name) {
  const last = await provider.getLastEventFor([STREAM])
  const bookmark = await provider.getPosition(name)
  assert.equal(String(bookmark), String(last.position), 'bookmark after catch-up')
}

async function s1(bank, _provider, sizes) {
  const start = clock()
  for (let i = 0; i < sizes.s1_accounts; i++) {
    const id = `acc-${i}`
    await bank.commands.open(id, { owner: 'o' })
    for (let d = 0; d < 9; d++) await bank.commands.deposit(id, { amount: 1 })
  }
  return { count: sizes.s1_accounts * 10, seconds: clock() - start, extra: {} }
}

async function s2(bank, _provider, sizes) {
  await seed(bank, 'big', sizes.s2_events)
  const times = []
  for (let i = 0; i < sizes.s2_loads; i++) {
    const start = clock()
    const account = await bank.domain.account.getAggregate('big')
    times.push(clock() - start)
    assert.equal(account.version, sizes.s2_events, 'version')
    assert.equal(account.balance, sizes.s2_events - 1, 'balance')
  }
  return { count: sizes.s2_events, seconds: median(times), extra: {} }
}

async function s3(bank, provider, sizes) {
  for (let i = 0; i < sizes.s3_accounts; i++) {
    await bank.commands.seed(`acc-${i}`, { owner: 'o', deposits: 9 })
  }
  const { handler, seen } = depositTotal(bank, provider, 'deposit-total')
  const start = clock()
  const handled = await handler.runOnce()
  const seconds = clock() - start
  assert.equal(handled, sizes.s3_accounts * 10, 'events handled')
  assert.equal(seen.total, sizes.s3_accounts * 9, 'sum of deposits')
  assert.ok(seen.bookmarksStored > 0, 'the handler never stored its bookmark')
  await assertCaughtUp(provider, 'deposit-total')
  return {
    count: sizes.s3_accounts * 10,
    seconds,
    extra: { bookmarks_stored: seen.bookmarksStored },
  }
}

async function s4(bank, provider, sizes) {
  const ids = Array.from({ length: sizes.s4_writers }, (_, i) => `writer-${i}`)
  for (const id of ids) await bank.commands.open(id, { owner: 'o' })
  const write = async (id) => {
    for (let d = 0; d < sizes.s4_deposits; d++) await bank.commands.deposit(id, { amount: 1 })
  }
  const start = clock()
  await Promise.all(ids.map(write))
  const seconds = clock() - start
  // Every deposit is there for a reader: a handler from the start, and each account.
  const { handler, seen } = depositTotal(bank, provider, 'check')
  await handler.runOnce()
  assert.equal(seen.total, ids.length * sizes.s4_deposits, 'deposits read back')
  for (const id of ids) {
    const account = await bank.domain.account.getAggregate(id)
    assert.equal(account.version, sizes.s4_deposits + 1, `${id} version`)
  }
  return { count: ids.length * sizes.s4_deposits, seconds, extra: {} }
}

const SCENARIOS = { S1: s1, S2: s2, S3: s3, S4: s4 }

/**
 * Run `scenario` on a fresh domain over `store`. The aggregate cache is on where evtsrc's
 * is (its Domain default), and off in S2, which measures loads from the store.
 */
async function run(store, scenario, sizes) {
  const body = SCENARIOS[scenario]
  if (!body) throw new Error(`evtstore does not run ${scenario}`)
  const bank = createBank(store.provider, { useCache: scenario !== 'S2' })
  return body(bank, store.provider, sizes)
}

module.exports = { run, SCENARIOS }

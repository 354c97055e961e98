'use strict'
/**
 * The bench's account, written the way evtstore's documentation writes a domain:
 * an aggregate with a `fold`, a domain over a provider, and command handlers that load
 * the aggregate, decide, and return the events to append.
 */
const { createAggregate, createCommands, createDomain, CommandError } = require('evtstore')

const STREAM = 'accounts'

const account = createAggregate({
  stream: STREAM,
  create: () => ({ owner: '', isOpen: false, balance: 0 }),
  fold: (evt, agg) => {
    switch (evt.type) {
      case 'opened':
        return { owner: evt.owner, isOpen: true }
      case 'deposited':
        return { balance: agg.balance + evt.amount }
    }
    return {}
  },
})

/**
 * A domain over `provider`, with its commands. `useCache` is evtstore's aggregate cache
 * (off by default): a cached aggregate is brought up to date with the events after it.
 */
function createBank(provider, { useCache = false } = {}) {
  const { domain, createHandler } = createDomain({ provider, useCache }, { account })
  const commands = createCommands(domain.account, {
    async open(cmd, agg) {
      if (agg.version) throw new CommandError('account already exists')
      return { type: 'opened', owner: cmd.owner }
    },
    async deposit(cmd, agg) {
      if (!agg.isOpen) throw new CommandError('account is not open')
      return { type: 'deposited', amount: cmd.amount }
    },
    /** Setup only: open (when new) and `deposits` deposits of 1, in one append. */
    async seed(cmd, agg) {
      const events = agg.version ? [] : [{ type: 'opened', owner: cmd.owner }]
      for (let i = 0; i < cmd.deposits; i++) events.push({ type: 'deposited', amount: 1 })
      return events
    },
  })
  return { domain, commands, createHandler }
}

module.exports = { STREAM, createBank }

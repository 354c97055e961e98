'use strict'
/**
 * One measured run of evtstore in its own node process, as bench/child.py is for the
 * Python libraries: prints one JSON line with the result and the peak RSS.
 *
 * node bench/evtstore/child.js BACKEND SCENARIO TARGET SIZES_JSON
 */
const fs = require('node:fs')
const { openStore } = require('./stores')
const { run } = require('./scenarios')

/** Peak resident set size of this process in MB (VmHWM, as the Python children report). */
function peakRssMb() {
  const line = fs
    .readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmHWM:'))
  return line ? Number(line.split(/\s+/)[1]) / 1024 : process.memoryUsage().rss / 1024 / 1024
}

async function main([backend, scenario, target, sizesJson]) {
  const sizes = JSON.parse(sizesJson)
  const store = await openStore(backend, target)
  let measured
  try {
    measured = await run(store, scenario, sizes)
    const settings = await store.settings()
    if (settings) measured.extra.store = settings
  } finally {
    await store.close()
  }
  const { count, seconds, extra } = measured
  const rate = seconds > 0 ? count / seconds : Infinity
  process.stdout.write(JSON.stringify({ count, seconds, rate, rss_mb: peakRssMb(), extra }) + '\n')
}

// An evtstore handler polls on a timer for life, so the process ends here, not by itself.
main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error && error.stack ? error.stack : error}\n`)
    process.exit(1)
  }
)

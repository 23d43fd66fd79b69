// Churn and scale on the memory transport, all nodes in this process
// (common/churn-sim.ts):
//   1. churn: 200 nodes; 20 % of them leave and 40 new ones join while 200
//      broadcasts go out one after another. Delivery ratio over (broadcast,
//      node up for its whole flight) pairs, duplicate deliveries, flooding
//      redundancy, link-graph checks and partitions, flight times.
//   2. scale: 1,000 nodes join (each bootstrapped to 1–2 earlier ones),
//      converge (times until every node knows 99 %, 99.99 % and all users;
//      the wait ends after 90 s), then one broadcast is timed to all of them.
//      Time and memory (heap, RSS, external, WASM), default and small profile.
// Churn runs TRIALS times with different seeds (the report gives each and the
// median); the 1,000-node run is done once per profile (it takes minutes).
// Other jobs may share the machine, so times move between runs.
// Memory figures are the process's: a second profile run in the same process
// starts from the first's high-water mark (WASM memory never shrinks), so
// bench/results/churn.json takes each profile from its own process
// (--scale-profile default, then --scale-profile small).
//
//   node dist/bench/churn.bench.js [--quick] [--scale-profile default|small] [--scale-wait S] [--scale-n N] [--no-scale] [--no-churn] [--explain]
// --quick: 40-node churn, 100-node scale, one trial; writes its JSON under
// $TMPDIR/p4net-bench-quick, not bench/results.
import { parseArgs } from 'node:util'
import type { Profile } from '../ts/index.js'
import { explainMissedBroadcast, explainMissing, runChurn, runScale, type ChurnReport, type ScaleReport } from '../common/churn-sim.js'
import { median, readResults, writeResults, type Result } from '../common/results.js'

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, 'scale-profile': { type: 'string' }, 'no-scale': { type: 'boolean' }, 'no-churn': { type: 'boolean' }, 'scale-wait': { type: 'string' }, 'scale-n': { type: 'string' }, explain: { type: 'boolean' } } })
const quick = values.quick ?? false
const CHURN_N = quick ? 40 : 200
const BROADCASTS = quick ? 40 : 200
const JOINS = quick ? 8 : 40
const TRIALS = values['no-churn'] ? 0 : quick ? 1 : 3
/** How long the scale run waits for full convergence, s. */
const SCALE_WAIT_S = values['scale-wait'] !== undefined ? Number(values['scale-wait']) : quick ? 20 : 90
const SCALE_N = values['scale-n'] !== undefined ? Number(values['scale-n']) : quick ? 100 : 1000
const SCALE_PROFILES: Profile[] = values['scale-profile'] ? [values['scale-profile'] as Profile] : ['default', 'small']

function log(line: string): void {
  process.stderr.write(`[churn] ${line}\n`)
}


async function main(): Promise<void> {
  const churns: ChurnReport[] = []
  for (let t = 0; t < TRIALS; t++) {
    const seed = 200 + t
    log(`churn trial ${t + 1}/${TRIALS}: ${CHURN_N} nodes, seed ${seed}`)
    const r = await runChurn({ n: CHURN_N, leaveFraction: 0.2, joins: JOINS, broadcasts: BROADCASTS, seed, log })
    churns.push(r)
    log(`  ratio ${r.ratio.toFixed(5)} (${r.delivered}/${r.expected}), ${r.misses.length} misses, partitions ${r.partitions}/${r.graphChecks}`)
    for (const m of r.misses.slice(0, 5)) log(`  miss: broadcast ${m.broadcast} at ${m.node} (linked ${m.linkedForMs} ms; links ${m.linksAtSend.join(',')}; left since: ${m.neighboursLeft.join(',') || 'none'})`)
  }
  const scales: ScaleReport[] = []
  if (!values['no-scale']) {
    for (const profile of SCALE_PROFILES) {
      log(`scale: ${SCALE_N} nodes, profile ${profile}`)
      if (profile !== SCALE_PROFILES[0]) log(`  (memory below includes the ${SCALE_PROFILES[0]} run's high-water mark: use --scale-profile ${profile} for its own)`)
      // The small profile's LKA holds 512 users: raised to 2,048 here so 1,000 can converge.
      const maxUsers = profile === 'small' && SCALE_N > 512 ? 2048 : undefined
      scales.push(await runScale({ n: SCALE_N, seed: 1000, profile, log, convergeTimeoutMs: SCALE_WAIT_S * 1000, maxUsers, onEnd: values.explain ? (nodes, missed) => [...explainMissing(nodes), ...explainMissedBroadcast(nodes, missed)].forEach((l) => log(`explain: ${l}`)) : undefined }))
    }
  }

  if (churns.length > 0) console.log(`\nchurn: ${CHURN_N} memory nodes, ${Math.round(CHURN_N * 0.2)} leave, ${JOINS} join, ${BROADCASTS} broadcasts (per trial)`)
  if (churns.length > 0) console.log('trial  expected  delivered  ratio     misses  dup.deliv  redundant/deliv  graph checks  partitions  flight med/max ms  start s  run s  heap MB')
  churns.forEach((r, i) =>
    console.log(
      `${String(i + 1).padStart(5)}  ${String(r.expected).padStart(8)}  ${String(r.delivered).padStart(9)}  ${r.ratio.toFixed(5)}  ${String(r.misses.length).padStart(6)}  ${String(r.duplicateDeliveries).padStart(9)}  ${r.redundantCopiesPerDelivery.toFixed(2).padStart(15)}  ${String(r.graphChecks).padStart(12)}  ${String(r.partitions).padStart(10)}  ${`${r.medianFlightMs.toFixed(0)}/${r.maxFlightMs.toFixed(0)}`.padStart(17)}  ${(r.startMs / 1000).toFixed(1).padStart(7)}  ${(r.runMs / 1000).toFixed(1).padStart(5)}  ${r.heapUsedMB.toFixed(0).padStart(7)}`,
    ),
  )
  if (churns.length > 1) console.log(`median ratio ${median(churns.map((r) => r.ratio)).toFixed(5)}, median redundant copies per delivery ${median(churns.map((r) => r.redundantCopiesPerDelivery)).toFixed(2)}`)
  for (const s of scales) {
    console.log(`\nscale: ${s.n} memory nodes in one process, profile ${s.profile}${s.profile === 'small' && s.n > 512 ? ' (maxUsers raised from 512 to 2048)' : ''}`)
    const sec = (ms: number): string => (Number.isNaN(ms) ? 'not within the wait' : `${(ms / 1000).toFixed(1)} s`)
    console.log(`  join ${sec(s.joinMs)}; every node knows 99 % of users after ${sec(s.converge99Ms)}, 99.99 % after ${sec(s.converge9999Ms)}, all after ${sec(s.convergeMs)}`)
    if (s.missingPairs > 0) console.log(`  at the end of the wait ${s.laggingNodes} nodes still missed ${s.missingPairs} (node, user) pairs`)
    console.log(`  one broadcast (after ${(s.settleMs / 1000).toFixed(1)} s for the event loop to go quiet) reached ${s.broadcastReached}/${s.n - 1} nodes: median ${s.broadcastP50Ms.toFixed(0)} ms, p99 ${s.broadcastP99Ms.toFixed(0)} ms, last ${s.broadcastMs.toFixed(0)} ms`)
    console.log(`  links min/mean/max ${s.linksMin}/${s.linksMean.toFixed(1)}/${s.linksMax}, components ${s.components}; handshake failures ${s.handshakeFailures}, relayDropped ${s.relayDropped}, cut-offs ${s.cutOff}${s.cutOff > 0 ? ` ${JSON.stringify(s.cutOffReasons)}` : ''}; signature checks shared ${s.sharedVerifyHits}`)
    console.log(`  heap ${s.heapUsedMB.toFixed(0)} MB, RSS ${s.rssMB.toFixed(0)} MB, external+arrayBuffers ${s.externalMB.toFixed(0)} MB, WASM ${s.wasmMB.toFixed(0)} MB  (${((s.rssMB * 1024) / s.n).toFixed(0)} KiB RSS per node)`)
  }
  const results: Result[] = [
    ...churns.flatMap((r, i) => [
      { case: `churn-${CHURN_N}`, impl: `trial-${i + 1}`, value: r.ratio, unit: 'delivery ratio', expected: r.expected, delivered: r.delivered, misses: r.misses, duplicateDeliveries: r.duplicateDeliveries, redundantCopiesPerDelivery: r.redundantCopiesPerDelivery, graphChecks: r.graphChecks, partitions: r.partitions, maxComponents: r.maxComponents, medianFlightMs: r.medianFlightMs, maxFlightMs: r.maxFlightMs, left: r.left, joined: r.joined, broadcasts: r.broadcasts },
    ]),
    ...scales.flatMap((s) => [
      { case: `scale-${s.n}`, impl: s.profile, value: s.converge9999Ms, unit: 'ms to 99.99 % converged', joinMs: s.joinMs, converge99Ms: s.converge99Ms, convergeMs: Number.isNaN(s.convergeMs) ? null : s.convergeMs, missingPairs: s.missingPairs, laggingNodes: s.laggingNodes, broadcastMs: s.broadcastMs, broadcastP50Ms: s.broadcastP50Ms, broadcastP99Ms: s.broadcastP99Ms, broadcastReached: s.broadcastReached, settleMs: s.settleMs, handshakeFailures: s.handshakeFailures, relayDropped: s.relayDropped, cutOff: s.cutOff, cutOffReasons: s.cutOffReasons, sharedVerifyHits: s.sharedVerifyHits },
      { case: `scale-${s.n}`, impl: s.profile, value: s.rssMB, unit: 'MB RSS', heapUsedMB: s.heapUsedMB, externalMB: s.externalMB, wasmMB: s.wasmMB, links: { min: s.linksMin, mean: s.linksMean, max: s.linksMax }, components: s.components },
    ]),
  ]
  // A partial run (--no-churn, --no-scale, one profile) replaces only what it measured.
  const old = readResults('churn', { smoke: quick })?.results ?? []
  const kept = old.filter((r) => !results.some((n) => n.case === r.case && (n.case.startsWith('churn') || n.impl === r.impl)))
  writeResults('churn', { quick, results: [...kept, ...results] })
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)

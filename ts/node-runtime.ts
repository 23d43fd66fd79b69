// What a started node runs on: the overlay and everything beneath it
// (sessions, the WebAssembly kernels, trust policies, the peer cache) and the
// plugin router. ts/node.ts loads this module with createNode() (a dynamic
// import), so `import('p4net')` alone loads none of it.
export { Overlay } from './overlay/overlay.js'
export { PeerCache } from './overlay/peer-cache.js'
export { createTrustPolicy } from './overlay/trust.js'
export { connInfo } from './native/index.js'
export { PluginRouter } from './plugin-router.js'

// The vendor bundle: Vue Flow and its add-ons, built against the page's own Vue (external 'vue').
export { ConnectionMode, Handle, MarkerType, Position, VueFlow } from "@vue-flow/core";
export { Background, BackgroundVariant } from "@vue-flow/background";
export { ControlButton, Controls } from "@vue-flow/controls";
export { MiniMap } from "@vue-flow/minimap";
// ELK's layered layout, fetched as its own chunk (dist/elk.js) the first time it is needed.
export const loadElk = () => import("./elk.mjs").then((module) => module.default);

// Builds dist/index.js (an ES module, plus the elk.js chunk it imports on demand; 'vue' stays external and resolves through NiceGUI's import map)
// and copies the stylesheets the bundle does not contain into dist/.
import { readFileSync } from "node:fs";
import commonjs from "@rollup/plugin-commonjs";
import nodeResolve from "@rollup/plugin-node-resolve";
import replace from "@rollup/plugin-replace";
import terser from "@rollup/plugin-terser";

const STYLESHEETS = {
  "vue-flow/style.css": "node_modules/@vue-flow/core/dist/style.css",
  "vue-flow/theme-default.css": "node_modules/@vue-flow/core/dist/theme-default.css",
  "vue-flow/minimap.css": "node_modules/@vue-flow/minimap/dist/style.css",
  "vue-flow/controls.css": "node_modules/@vue-flow/controls/dist/style.css",
  "dagsmith-canvas.css": "src/dagsmith-canvas.css",
};

// Emitting the stylesheets as assets keeps the build to the plugins listed in package.json.
const copyStylesheets = {
  name: "copy-stylesheets",
  buildStart() {
    for (const source of Object.values(STYLESHEETS)) this.addWatchFile(source);
  },
  generateBundle() {
    for (const [fileName, source] of Object.entries(STYLESHEETS)) {
      let text = readFileSync(source, "utf8").replace(/\r\n/g, "\n");
      if (!text.endsWith("\n")) text += "\n";
      this.emitFile({ type: "asset", fileName, source: text });
    }
  },
};

// Vue Flow's minimap draws its node rectangles in the same render as its viewBox and mask, which follow
// the viewport: every pan or zoom frame built all the rectangles again, and each MiniMapNode drew again
// (its event handlers are new closures each time). At 1,000 nodes that was 1,000 component renders per
// frame. The patch moves the rectangles into a child component of their own, drawn again only when the
// nodes (or the colours) change. Exact text replacements of the pinned version: the build fails if the
// text is not there, so a version bump cannot silently drop the patch.
const MINIMAP_NODES_START = "(openBlock(true), createElementBlock(Fragment, null, renderList(unref(getNodesInitialized), (node) => {";
const MINIMAP_NODES_END = "}), 128)),\n            createElementVNode(\"path\", {";
const MINIMAP_SETUP_END = "    return (_ctx, _cache) => {\n      return openBlock(), createBlock(unref(Panel), {";
const patchMinimap = {
  name: "patch-minimap",
  transform(code, id) {
    if (!id.replace(/\\/g, "/").endsWith("@vue-flow/minimap/dist/vue-flow-minimap.mjs")) return null;
    const start = code.indexOf(MINIMAP_NODES_START);
    const end = code.indexOf(MINIMAP_NODES_END, start);
    const setupEnd = code.indexOf(MINIMAP_SETUP_END);
    if (start < 0 || end < 0 || setupEnd < 0 || setupEnd > start) {
      this.error("patch-minimap: @vue-flow/minimap changed; update the patch in rollup.config.mjs");
    }
    const nodes = code
      .slice(start, end + "}), 128))".length)
      .replace('"border-radius": _ctx.nodeBorderRadius', '"border-radius": __props.nodeBorderRadius')
      .replace('"stroke-width": _ctx.nodeStrokeWidth', '"stroke-width": __props.nodeStrokeWidth');
    if (nodes.includes("_ctx.")) this.error("patch-minimap: the node list reads the render context");
    const layer = `    const miniMapNodes = __minimapRaw({ name: "MiniMapNodes", render: () => ${nodes} });\n`;
    const patched =
      code.slice(0, setupEnd) +
      layer +
      code.slice(setupEnd, start) +
      "__minimapH(miniMapNodes)," +
      code.slice(end + "}), 128)),".length);
    return { code: `import { h as __minimapH, markRaw as __minimapRaw } from "vue";\n${patched}`, map: null };
  },
};

// Vue Flow's only-render-visible-elements computes the visible nodes and edges over every node and edge each
// time the viewport changes: at 1,000 nodes a zoom frame spent 28 % of its time there, and every frame drew
// the node and edge renderers again, mounting and unmounting the nodes at the border. The patch computes
// both sets for a region around the view (the view plus a quarter of its size on each side, in flow
// coordinates) and keeps that region, and so the same arrays, while the view stays inside it and has not zoomed in more
// than twice: a pan or zoom inside the region recomputes nothing and draws no renderer again. The sets still
// follow the nodes and edges (added, moved, measured). Exact text replacements of the pinned version: the
// build fails if the text is not there.
const CULL_NODES_RECT = `        {
          x: 0,
          y: 0,
          width: state.dimensions.width,
          height: state.dimensions.height
        },
        state.viewport,
        true
      );`;
const CULL_EDGE_VIEW = `          width: state.dimensions.width,
          height: state.dimensions.height,
          viewport: state.viewport
        })) {`;
const CULL_GET_NODES = "  const getNodes = computed(() => {\n    if (state.onlyRenderVisibleElements) {";
const CULL_REGION = `  const __cullRegion = computed((previous) => {
    const { x, y, zoom } = state.viewport;
    const width = state.dimensions.width / zoom;
    const height = state.dimensions.height / zoom;
    const left = -x / zoom;
    const top = -y / zoom;
    if (previous && left >= previous.x && top >= previous.y && left + width <= previous.x + previous.width &&
        top + height <= previous.y + previous.height && width * height * 9 >= previous.width * previous.height) {
      return previous;
    }
    return { x: left - width / 4, y: top - height / 4, width: width * 1.5, height: height * 1.5 };
  });
`;
const patchCulling = {
  name: "patch-culling",
  transform(code, id) {
    if (!id.replace(/\\/g, "/").endsWith("@vue-flow/core/dist/vue-flow-core.mjs")) return null;
    for (const text of [CULL_NODES_RECT, CULL_EDGE_VIEW, CULL_GET_NODES]) {
      if (code.split(text).length !== 2) this.error("patch-culling: @vue-flow/core changed; update the patch in rollup.config.mjs");
    }
    const patched = code
      .replace(CULL_GET_NODES, CULL_REGION + CULL_GET_NODES)
      .replace(CULL_NODES_RECT, "        __cullRegion.value,\n        { x: 0, y: 0, zoom: 1 },\n        true\n      );")
      .replace(
        CULL_EDGE_VIEW,
        "          width: __cullRegion.value.width,\n          height: __cullRegion.value.height,\n" +
          "          viewport: { x: -__cullRegion.value.x, y: -__cullRegion.value.y, zoom: 1 }\n        })) {",
      );
    return { code: patched, map: null };
  },
};

export default {
  input: "./src/index.mjs",
  external: ["vue"],
  output: {
    dir: "./dist/",
    format: "es",
    entryFileNames: "index.js",
    chunkFileNames: "[name].js", // elk.js: loaded on the first auto-layout only
  },
  plugins: [
    // Vue Flow's isDev() reads process.env.NODE_ENV, which does not exist in the browser.
    replace({ preventAssignment: true, values: { "process.env.NODE_ENV": JSON.stringify("production") } }),
    nodeResolve({ browser: true }),
    patchMinimap,
    patchCulling,
    commonjs({ ignore: ["web-worker"] }), // elkjs is CommonJS; its bundled build never needs web-worker
    terser({ mangle: true }),
    copyStylesheets,
  ],
};

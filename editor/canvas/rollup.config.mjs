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
    commonjs({ ignore: ["web-worker"] }), // elkjs is CommonJS; its bundled build never needs web-worker
    terser({ mangle: true }),
    copyStylesheets,
  ],
};

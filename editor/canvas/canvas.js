// The dagsmith pipeline canvas: Vue Flow showing what Python tells it, and asking Python for every change.
//
// Vue Flow's auto-apply is off. The canvas applies only view state by itself (node positions while
// dragging, measured sizes, selection); adding, removing and connecting are requests to Python
// (events), and Python answers by calling the methods below. Names and payloads: protocol.py.
import { h, markRaw } from "vue";
import { Background, ControlButton, Controls, Handle, MiniMap, VueFlow, loadElk } from "dagsmith-canvas-vendor";
import { loadResource } from "../../static/utils/resources.js";

const DRAG_TYPE = "application/dagsmith-node";
const LINK_PREFIX = "__link:";
const isLink = (edge) => edge.id.startsWith(LINK_PREFIX);
const DROP_OFFSET = { x: 100, y: 16 }; // half a node's width (200 px), the middle of its header
const PALETTE_ATTRIBUTE = "data-dagsmith-node";
const STYLESHEETS = [
  "vue-flow/style.css",
  "vue-flow/theme-default.css",
  "vue-flow/minimap.css",
  "vue-flow/controls.css",
  "dagsmith-canvas.css",
];
const LOCAL_CHANGES = new Set(["position", "dimensions", "select"]);
const VIEWPORT_THROTTLE_MS = 200;
const TOAST_MS = 4000;
// Fitting never zooms out below FIT_MIN_ZOOM: node labels (13 px) stay at least 9 px tall, readable. A larger
// graph is centred at that zoom; the minimap and the controls show and reach the rest.
const FIT_MIN_ZOOM = 0.7;
const FIT_MAX_ZOOM = 1.25;
const FIT_MARGIN = 24; // px around the fitted graph
const MINIMAP = { width: 180, height: 120, margin: 15 }; // the minimap's box; a fitted graph keeps clear of it
const FIT_ICON = "M3.692 4.63c0-.53.4-.938.939-.938h5.215V0H4.708C2.13 0 0 2.054 0 4.63v5.216h3.692V4.631zM27.354 0h-5.2v3.692h5.17c.53 0 .984.4.984.939v5.215H32V4.631A4.624 4.624 0 0 0 27.354 0zm.954 24.83c0 .532-.4.94-.939.94h-5.215v3.768h5.215c2.577 0 4.631-2.13 4.631-4.707v-5.139h-3.692v5.139zm-23.677.94a.919.919 0 0 1-.939-.94v-5.138H0v5.139c0 2.577 2.13 4.707 4.708 4.707h5.138V25.77H4.631z";
const COMMENT_COLOR = "#facc15";
// Task states: the node's fill and border (dagsmith-canvas.css) and its minimap colour.
const STATE_COLORS = { queued: "#71717a", running: "#2563eb", success: "#16a34a", failed: "#dc2626", skipped: "#a1a1aa" };
const FOCUS_ZOOM = 1; // a node found by search is shown at least this large
// From this many nodes on, only the nodes and edges in view are in the page (Vue Flow's
// only-render-visible-elements): drawing all of 3,000 blocked the browser for seconds at a time, and
// panning and zooming redrew them all. Smaller graphs keep every node in the page.
const CULL_NODES = 500;

// Make ``target`` (issues by id) equal to ``wanted``, changing only the ids whose issues differ; those ids.
const patchIssues = (target, wanted) => {
  const changed = new Set();
  for (const id of Object.keys(target)) {
    if (!(id in wanted)) {
      delete target[id];
      changed.add(id);
    }
  }
  for (const [id, issues] of Object.entries(wanted)) {
    if (JSON.stringify(target[id]) !== JSON.stringify(issues)) {
      target[id] = issues;
      changed.add(id);
    }
  }
  return changed;
};
// ELK's layered layout, left to right; branches get their own rows, and ports keep their order on the card.
const ELK_OPTIONS = {
  "elk.algorithm": "layered",
  "elk.direction": "RIGHT",
  "elk.edgeRouting": "SPLINES",
  "elk.spacing.nodeNode": "48",
  "elk.layered.spacing.nodeNodeBetweenLayers": "120",
  "elk.spacing.componentComponent": "80",
  "elk.layered.crossingMinimization.strategy": "LAYER_SWEEP",
  "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
  "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
};
const EDITABLE = "input, textarea, select, [contenteditable=''], [contenteditable='true']";

function isEditable(target) {
  return target instanceof Element && (target.isContentEditable || target.closest(EDITABLE) !== null);
}

function round(value, digits = 2) {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function sameIds(a, b) {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

// Palette items only need the attribute; setting the drag payload here keeps JS out of Python.
function onPaletteDragStart(event) {
  const item = event.target instanceof Element ? event.target.closest(`[${PALETTE_ATTRIBUTE}]`) : null;
  if (item && event.dataTransfer && !event.dataTransfer.types.includes(DRAG_TYPE)) {
    event.dataTransfer.setData(DRAG_TYPE, item.getAttribute(PALETTE_ATTRIBUTE));
    event.dataTransfer.effectAllowed = "copy";
  }
}

// A node's card is its own component, so that Vue Flow's node wrapper drawing again (once the node is
// measured, on selection, while dragging) does not draw the card and its handles again: the card is
// drawn again only when its own data, issues, state or the connection being dragged change. At 200 nodes
// the second pass drew every card and 3-4 Handle components per card anew.
const StepCard = {
  name: "DagsmithStepCard",
  components: { Handle },
  inject: ["canvas"],
  props: { id: String, data: Object },
  template: `
    <div class="dagsmith-node" :class="canvas.nodeClasses(id)" :style="{ '--dagsmith-family': canvas.familyColor(data.family) }">
      <Handle v-if="canvas.linked[id]" id="__comment" type="target" position="top" class="dagsmith-link-handle"
              :connectable="false" />
      <div class="dagsmith-node__header">
        <span class="dagsmith-node__title">{{ data.title }}</span>
        <span v-if="canvas.states[id]" class="dagsmith-state nodrag" :class="'dagsmith-state--' + canvas.states[id]"
              role="button" :title="'Task ' + canvas.states[id] + ': click for its log'"
              @click.stop="canvas.$emit('stateClicked', { id })">{{ canvas.states[id] }}</span>
      </div>
      <div class="dagsmith-node__label" :title="data.label">{{ data.label }}</div>
      <div class="dagsmith-node__ports">
        <div class="dagsmith-node__column">
          <div v-for="port in data.inputs" :key="port.name" class="dagsmith-port dagsmith-port--input"
               :title="canvas.portTitle(port, 'input')">
            <Handle :id="port.name" type="target" position="left" class="dagsmith-handle"
                    :class="canvas.handleClasses(port, 'target')" :style="{ '--dagsmith-port': canvas.portColor(port.type) }" />
            <span class="dagsmith-port__name">{{ port.name }}</span>
          </div>
        </div>
        <div class="dagsmith-node__column dagsmith-node__column--outputs">
          <div v-for="port in data.outputs" :key="port.name" class="dagsmith-port dagsmith-port--output"
               :title="canvas.portTitle(port, 'output')">
            <span class="dagsmith-port__name">{{ port.name }}</span>
            <Handle :id="port.name" type="source" position="right" class="dagsmith-handle"
                    :class="canvas.handleClasses(port, 'source')" :style="{ '--dagsmith-port': canvas.portColor(port.type) }" />
          </div>
        </div>
      </div>
      <div v-if="canvas.nodeIssues(id).length" class="dagsmith-badge" :title="canvas.issueText(canvas.nodeIssues(id))">
        {{ canvas.nodeIssues(id).length }}
      </div>
    </div>
  `,
};
const CommentCard = {
  name: "DagsmithCommentCard",
  components: { Handle },
  inject: ["canvas"],
  props: { id: String, data: Object },
  template: `
    <div class="dagsmith-comment" :class="canvas.nodeClasses(id)">
      <Handle id="__link" type="source" position="bottom" class="dagsmith-link-handle" :connectable="false" />
      <div class="dagsmith-comment__text">{{ data.label }}</div>
      <div v-if="canvas.nodeIssues(id).length" class="dagsmith-badge" :title="canvas.issueText(canvas.nodeIssues(id))">
        {{ canvas.nodeIssues(id).length }}
      </div>
    </div>
  `,
};

export default {
  components: { Background, CommentCard, ControlButton, Controls, MiniMap, StepCard, VueFlow },
  provide() {
    return { canvas: this };
  },
  template: `
    <div class="dagsmith-canvas-root" :class="{ 'dagsmith-dark': isDark, 'dagsmith-read-only': readOnlyNow }"
         @dragover="onDragOver" @drop="onDrop" @pointerdown.capture="active = true" @pointermove="onPointerMove">
      <VueFlow v-if="stylesLoaded" class="dagsmith-flow" :apply-default="false" :delete-key-code="null"
               connection-mode="strict" :nodes-draggable="!readOnlyNow" :nodes-connectable="!readOnlyNow"
               :elements-selectable="true" :zoom-on-double-click="false" :min-zoom="0.1" :max-zoom="2.5"
               :connection-radius="24" :only-render-visible-elements="cull"
               @init="onInit" @nodes-change="onNodesChange" @edges-change="onEdgesChange"
               @nodes-initialized="onNodesInitialized" @node-drag-stop="onDragStop" @selection-drag-stop="onDragStop"
               @connect="onConnect" @connect-start="onConnectStart" @connect-end="onConnectEnd"
               @node-click="onNodeClick" @pane-click="$emit('paneClicked')" @viewport-change="onViewportChange">
        <template #node-step="{ id, data }"><StepCard :id="id" :data="data" /></template>
        <template #node-comment="{ id, data }"><CommentCard :id="id" :data="data" /></template>
        <Background :gap="20" :pattern-color="isDark ? '#3f3f46' : '#d4d4d8'" />
        <MiniMap pannable zoomable :width="minimap.width" :height="minimap.height" :node-color="miniMapColor"
                 :node-stroke-color="isDark ? '#e4e4e7' : '#3f3f46'" :node-stroke-width="2" :node-border-radius="4"
                 :mask-color="isDark ? 'rgba(0, 0, 0, 0.35)' : 'rgba(240, 240, 240, 0.35)'"
                 :mask-stroke-color="isDark ? '#60a5fa' : '#2563eb'" :mask-stroke-width="2"
                 aria-label="Minimap: click to move the view there, drag to pan, scroll to zoom"
                 @click="onMiniMapClick" />
        <Controls :show-interactive="false">
          <template #control-fit-view>
            <ControlButton class="vue-flow__controls-fitview" title="Fit view" aria-label="Fit view" @click="fitView()">
              <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 30"><path :d="fitIcon" /></svg>
            </ControlButton>
          </template>
        </Controls>
      </VueFlow>
      <div class="dagsmith-search" role="search" @pointerdown.stop>
        <input ref="search" v-model="query" class="dagsmith-search__input" type="search" spellcheck="false"
               placeholder="Find a node (Ctrl+F)" aria-label="Find a node by label, id or type"
               title="Type part of a label, id or type; Enter goes to the next match, Shift+Enter back, Esc clears"
               @keydown="onSearchKey" @input="matchIndex = -1" />
        <span v-if="query" class="dagsmith-search__count" aria-live="polite">{{ searchStatus }}</span>
      </div>
      <div v-if="toast" class="dagsmith-toast" role="alert" :style="{ left: toast.x + 'px', top: toast.y + 'px' }">
        {{ toast.message }}
      </div>
    </div>
  `,
  props: {
    resourcePath: String,
    readOnly: Boolean,
    dark: { default: null }, // true, false, or null: follow NiceGUI's dark mode
    portColors: { type: Object, default: () => ({}) },
    familyColors: { type: Object, default: () => ({}) },
    compatibility: { type: Object, default: () => ({}) },
  },
  emits: [
    "canvasReady",
    "nodeDropped",
    "nodeMoved",
    "edgeRequested",
    "selectionChanged",
    "deleteRequested",
    "copyRequested",
    "pasteRequested",
    "undoRequested",
    "redoRequested",
    "nodeClicked",
    "stateClicked",
    "paneClicked",
    "viewportChanged",
    "layoutComputed",
  ],
  data() {
    return {
      stylesLoaded: false,
      readOnlyNow: this.readOnly,
      pageDark: document.body.classList.contains("body--dark"),
      issues: { nodes: {}, edges: {} },
      states: {},
      linked: {}, // step id -> true while a comment is attached to it (only those get the link handle)
      connecting: null,
      toast: null,
      query: "",
      matchIndex: -1, // the match shown last (-1: none yet for this query)
      active: false,
      minimap: MINIMAP,
      fitIcon: FIT_ICON,
      cull: false, // draw only what is in view (many nodes)
    };
  },
  computed: {
    matches() {
      const words = this.query.trim().toLowerCase().split(/\s+/).filter(Boolean);
      if (!words.length || !this.flow) return [];
      return this.flow.nodes.value
        .filter((node) => {
          const d = node.data || {};
          const text = [d.label, d.id, d.type, d.title].filter(Boolean).join(" ").toLowerCase();
          return words.every((word) => text.includes(word));
        })
        .map((node) => node.id);
    },
    searchStatus() {
      if (!this.matches.length) return "no match";
      return this.matchIndex < 0 ? `${this.matches.length} found` : `${this.matchIndex + 1} of ${this.matches.length}`;
    },
    isDark() {
      return this.dark === null || this.dark === undefined ? this.pageDark : Boolean(this.dark);
    },
  },
  watch: {
    readOnly(value) {
      this.readOnlyNow = value;
    },
  },
  created() {
    // Plain (non-reactive) fields: the Vue Flow store must not be wrapped in a reactive proxy.
    this.flow = null;
    this.pointer = null;
    this.selection = { nodes: [], edges: [] };
    this.pendingFit = false;
    this.viewportTimer = null;
    this.viewportLatest = null;
    this.toastTimer = null;
    this.elk = null;
  },
  async mounted() {
    await this.$nextTick(); // window.path_prefix is set after mounting
    await Promise.all(STYLESHEETS.map((name) => loadResource(`${window.path_prefix}${this.resourcePath}/${name}`)));
    this.stylesLoaded = true;
    this.bodyObserver = new MutationObserver(() => {
      this.pageDark = document.body.classList.contains("body--dark");
    });
    this.bodyObserver.observe(document.body, { attributes: true, attributeFilter: ["class"] });
    this.pageDark = document.body.classList.contains("body--dark"); // the page may have turned dark meanwhile
    this.onDocumentPointerDown = (event) => {
      if (!this.$el.contains(event.target)) this.active = false;
    };
    this.onDocumentKeyDown = (event) => this.onKeyDown(event);
    document.addEventListener("pointerdown", this.onDocumentPointerDown, true);
    document.addEventListener("keydown", this.onDocumentKeyDown);
    document.addEventListener("dragstart", onPaletteDragStart);
  },
  unmounted() {
    this.bodyObserver?.disconnect();
    document.removeEventListener("pointerdown", this.onDocumentPointerDown, true);
    document.removeEventListener("keydown", this.onDocumentKeyDown);
    document.removeEventListener("dragstart", onPaletteDragStart);
    clearTimeout(this.viewportTimer);
    clearTimeout(this.toastTimer);
  },
  methods: {
    // ---- Python -> JS -------------------------------------------------------------------------

    loadGraph(nodes, edges, viewport) {
      const selected = new Set(this.flow.getSelectedNodes.value.map((n) => n.id));
      this.cull = nodes.length >= CULL_NODES;
      this.flow.setNodes(nodes.map((node) => ({ ...this.toFlowNode(node), selected: selected.has(node.id) })));
      const links = this.linkEdges(nodes);
      this.linked = Object.fromEntries(links.map((link) => [link.target, true]));
      this.flow.setEdges([...edges.map((edge) => this.toFlowEdge(edge)), ...links]);
      if (viewport) {
        this.pendingFit = false;
        this.flow.setViewport(viewport);
      } else {
        this.fitWhenMeasured();
      }
      this.rememberSelection();
    },
    addNode(node) {
      this.flow.setNodes([...this.flow.nodes.value, this.toFlowNode(node)]);
      if (node.kind === "comment") this.$nextTick(() => this.syncLinks());
    },
    updateNode(node) {
      const { id, type, position, data, draggable, connectable } = this.toFlowNode(node);
      this.flow.updateNode(id, { type, position, data, draggable, connectable });
      this.$nextTick(() => {
        this.flow.updateNodeInternals([id]); // ports may have changed
        if (node.kind === "comment") this.syncLinks();
      });
    },
    removeElements(nodeIds, edgeIds) {
      const nodes = new Set(nodeIds);
      const edges = new Set(edgeIds);
      this.flow.setEdges(
        this.flow.edges.value.filter((e) => !edges.has(e.id) && !nodes.has(e.source) && !nodes.has(e.target)),
      );
      this.flow.setNodes(this.flow.nodes.value.filter((n) => !nodes.has(n.id)));
      this.rememberSelection();
    },
    addEdge(edge) {
      // One "add" change instead of setEdges, which makes Vue Flow reprocess every edge (100-250 ms at 200).
      this.flow.applyEdgeChanges([{ type: "add", item: this.toFlowEdge(edge) }]);
    },
    setIssues(nodeIssues, edgeIssues) {
      // Patched key by key: only the nodes and edges whose issues changed are drawn again (a new object
      // drew every node again after each connection, tens of milliseconds at 200 nodes).
      patchIssues(this.issues.nodes, nodeIssues || {});
      const edges = patchIssues(this.issues.edges, edgeIssues || {});
      for (const edge of this.flow.edges.value) if (!isLink(edge) && edges.has(edge.id)) this.decorateEdge(edge);
    },
    setStates(states) {
      this.states = states || {};
    },
    select(nodeIds, edgeIds) {
      const nodes = new Set(nodeIds);
      const edges = new Set(edgeIds);
      for (const node of this.flow.nodes.value) node.selected = nodes.has(node.id);
      for (const edge of this.flow.edges.value) edge.selected = edges.has(edge.id);
      this.rememberSelection();
    },
    fitView(duration = 200) {
      this.flow.fitView({ ...this.fitOptions(), duration });
    },
    applyLayout(positions) {
      for (const [id, position] of Object.entries(positions)) {
        this.flow.updateNode(id, { position: { x: position.x, y: position.y } });
      }
    },
    // ELK's layered layout of what is shown (measured sizes, port positions), reported as layoutComputed
    // {nodes: [{id, x, y}]}; Python stores it (one undo step) and answers with applyLayout.
    autoLayout() {
      return this.computeLayout();
    },
    async computeLayout() {
      if (!this.flow) return;
      const nodes = this.flow.nodes.value;
      if (!nodes.length) return;
      if (!this.elk) this.elk = markRaw(new (await loadElk())());
      const ports = new Map(); // "node/type/handle" -> ELK port id
      const children = nodes.map((node) => {
        const size = { width: node.dimensions.width || 200, height: node.dimensions.height || 80 };
        const bounds = node.handleBounds || {};
        const nodePorts = ["target", "source"].flatMap((type) =>
          (bounds[type] || [])
            .filter((h) => h.id && !h.id.startsWith("__")) // not the hidden comment-link handles
            .map((h) => {
              const id = `${node.id}/${type}/${h.id}`;
              ports.set(id, id);
              const layoutOptions = { "elk.port.side": type === "target" ? "WEST" : "EAST" };
              return { id, x: h.x, y: h.y, width: h.width, height: h.height, layoutOptions };
            }),
        );
        const layoutOptions = nodePorts.length ? { "elk.portConstraints": "FIXED_POS" } : {};
        return { id: node.id, ...size, ports: nodePorts, layoutOptions };
      });
      const end = (node, type, handle) => ports.get(`${node}/${type}/${handle}`) || node;
      const edges = this.flow.edges.value.map((edge) => ({
        id: edge.id,
        sources: [end(edge.source, "source", edge.sourceHandle)],
        targets: [end(edge.target, "target", edge.targetHandle)],
      }));
      try {
        const graph = await this.elk.layout({ id: "root", layoutOptions: ELK_OPTIONS, children, edges });
        const placed = graph.children.map((c) => ({ id: c.id, x: round(c.x), y: round(c.y) }));
        this.$emit("layoutComputed", { nodes: placed });
      } catch (error) {
        this.rejectConnection(`Auto-layout failed: ${error?.message || error}`);
      }
    },
    setReadOnly(value) {
      this.readOnlyNow = Boolean(value);
    },
    rejectConnection(message) {
      const box = this.$el.getBoundingClientRect();
      const at = this.pointer || { x: box.left + box.width / 2, y: box.top + box.height / 2 };
      const x = Math.min(Math.max(at.x - box.left + 12, 8), Math.max(box.width - 320, 8));
      const y = Math.min(Math.max(at.y - box.top + 12, 8), Math.max(box.height - 60, 8));
      this.toast = { message, x, y };
      clearTimeout(this.toastTimer);
      this.toastTimer = setTimeout(() => (this.toast = null), TOAST_MS);
    },

    // ---- protocol shapes -> Vue Flow elements ---------------------------------------------------

    linkEdges(nodes) {
      // A dotted line from each comment to every step it is attached to (drawn only, never selected).
      const steps = new Set(nodes.filter((n) => n.kind !== "comment").map((n) => n.id));
      return nodes
        .filter((n) => n.kind === "comment")
        .flatMap((c) => (c.attached || []).filter((id) => steps.has(id)).map((id) => ({
          id: `${LINK_PREFIX}${c.id}:${id}`, source: c.id, target: id, sourceHandle: "__link",
          targetHandle: "__comment", type: "straight", class: "dagsmith-comment-link",
          selectable: false, focusable: false, deletable: false, updatable: false, interactionWidth: 0,
        })));
    },
    syncLinks() {
      const wanted = this.linkEdges(this.flow.nodes.value.map((n) => n.data));
      const have = this.flow.edges.value.filter(isLink);
      const keep = new Set(wanted.map((e) => e.id));
      const removed = have.filter((e) => !keep.has(e.id)).map((e) => ({ type: "remove", id: e.id }));
      if (removed.length) this.flow.applyEdgeChanges(removed);
      const linked = Object.fromEntries(wanted.map((link) => [link.target, true]));
      const handles = [...new Set([...Object.keys(linked), ...Object.keys(this.linked)])].filter(
        (id) => Boolean(linked[id]) !== Boolean(this.linked[id]),
      );
      this.linked = linked;
      const present = new Set(have.map((e) => e.id));
      const added = wanted.filter((e) => !present.has(e.id)).map((item) => ({ type: "add", item }));
      this.$nextTick(() => {
        if (handles.length) this.flow.updateNodeInternals(handles); // a link handle came or went: measure it
        if (added.length) this.flow.applyEdgeChanges(added);
      });
    },

    toFlowNode(node) {
      const comment = node.kind === "comment";
      return {
        id: node.id,
        type: comment ? "comment" : "step",
        position: { x: node.x, y: node.y },
        data: node,
        connectable: !comment,
      };
    },
    toFlowEdge(edge) {
      const flowEdge = {
        id: edge.id,
        source: edge.source,
        target: edge.target,
        sourceHandle: edge.source_port,
        targetHandle: edge.target_port,
        type: "default",
        data: edge,
        style: { stroke: this.portColor(edge.type) },
      };
      this.decorateEdge(flowEdge);
      return flowEdge;
    },
    decorateEdge(edge) {
      const issues = this.issues.edges[edge.id] || [];
      const severity = issues.some((i) => i.severity === "error") ? "error" : issues.length ? "warning" : null;
      edge.class = severity ? `dagsmith-edge dagsmith-edge--${severity}` : "dagsmith-edge";
      // The count, with the messages as the label's tooltip (an SVG <title>).
      const text = this.issueText(issues);
      edge.label = issues.length ? markRaw({ render: () => [h("title", text), `⚠ ${issues.length}`] }) : undefined;
      edge.labelStyle = severity ? { fill: severity === "error" ? "#dc2626" : "#d97706", fontWeight: 600 } : undefined;
    },

    // ---- view helpers -------------------------------------------------------------------------

    // Fit options that keep the graph clear of the minimap (bottom right): the margin beside the minimap
    // or above it, whichever leaves the larger zoom. Never below FIT_MIN_ZOOM.
    fitOptions() {
      const base = { minZoom: FIT_MIN_ZOOM, maxZoom: FIT_MAX_ZOOM };
      const nodes = this.flow.nodes.value.filter((n) => n.dimensions.width && n.dimensions.height);
      const box = this.$el.getBoundingClientRect();
      const px = (value) => `${Math.round(value)}px`;
      const margin = FIT_MARGIN;
      const right = { top: px(margin), left: px(margin), bottom: px(margin), right: px(MINIMAP.width + MINIMAP.margin + margin) };
      const below = { top: px(margin), left: px(margin), right: px(margin), bottom: px(MINIMAP.height + MINIMAP.margin + margin) };
      if (!nodes.length || !box.width || !box.height) return { ...base, padding: right };
      const left = Math.min(...nodes.map((n) => n.position.x));
      const top = Math.min(...nodes.map((n) => n.position.y));
      const width = Math.max(...nodes.map((n) => n.position.x + n.dimensions.width)) - left || 1;
      const height = Math.max(...nodes.map((n) => n.position.y + n.dimensions.height)) - top || 1;
      const zoom = (w, h) => Math.min(w / width, h / height);
      const besideZoom = zoom(box.width - 2 * margin - MINIMAP.width - MINIMAP.margin, box.height - 2 * margin);
      const aboveZoom = zoom(box.width - 2 * margin, box.height - 2 * margin - MINIMAP.height - MINIMAP.margin);
      return { ...base, padding: besideZoom >= aboveZoom ? right : below };
    },
    // ---- search ---------------------------------------------------------------------------------

    focusSearch() {
      this.$refs.search?.focus();
      this.$refs.search?.select();
    },
    onSearchKey(event) {
      if (event.key === "Enter") {
        event.preventDefault();
        this.showMatch(event.shiftKey ? -1 : 1);
      } else if (event.key === "Escape") {
        event.preventDefault();
        this.query = "";
        this.matchIndex = -1;
        this.$refs.search?.blur();
        this.active = true; // the canvas's shortcuts apply again
      }
    },
    // Select the next (or previous) match and centre the view on it at a readable zoom.
    showMatch(step) {
      const found = this.matches;
      if (!found.length || !this.flow) return;
      const count = found.length;
      this.matchIndex = this.matchIndex < 0 ? (step > 0 ? 0 : count - 1) : (this.matchIndex + step + count) % count;
      const node = this.flow.findNode(found[this.matchIndex]);
      if (!node) return;
      for (const other of this.flow.nodes.value) other.selected = other.id === node.id; // reported as selectionChanged
      for (const edge of this.flow.edges.value) edge.selected = false;
      const { width = 200, height = 80 } = node.dimensions;
      const zoom = Math.max(this.flow.getViewport().zoom, FOCUS_ZOOM);
      this.flow.setCenter(node.position.x + width / 2, node.position.y + height / 2, { zoom, duration: 200 });
    },

    onMiniMapClick({ position }) {
      // A click (not a drag) on the minimap centres the view on that point, at the current zoom.
      if (!this.flow || !position) return;
      this.flow.setCenter(position.x, position.y, { zoom: this.flow.getViewport().zoom, duration: 200 });
    },

    // ---- template helpers ---------------------------------------------------------------------

    portColor(type) {
      return this.portColors[type] || this.portColors.any || "#9ca3af";
    },
    familyColor(family) {
      return this.familyColors[family] || "#64748b";
    },
    miniMapColor(node) {
      if (node.type === "comment") return COMMENT_COLOR;
      return STATE_COLORS[this.states[node.id]] || this.familyColor(node.data?.family);
    },
    portTitle(port, side) {
      const traits = [port.required ? "required" : "", port.multiple ? "accepts several" : ""].filter(Boolean);
      const extra = traits.length ? ` (${traits.join(", ")})` : "";
      const about = port.description ? `\n${port.description}` : "";
      return `${side} ${port.name}: ${port.type}${extra}${about}`;
    },
    nodeIssues(id) {
      return this.issues.nodes[id] || [];
    },
    issueText(issues) {
      return issues.map((i) => `${i.severity}: ${i.message}`).join("\n");
    },
    nodeClasses(id) {
      const issues = this.nodeIssues(id);
      const error = issues.some((i) => i.severity === "error");
      const state = this.states[id];
      return {
        "dagsmith-has-error": error,
        "dagsmith-has-warning": !error && issues.length > 0,
        "dagsmith-has-state": Boolean(state),
        [`dagsmith-node--${state}`]: Boolean(state),
        "dagsmith-match": this.query !== "" && this.matches.includes(id),
      };
    },
    handleClasses(port, handleType) {
      const optional = handleType === "target" && !port.required;
      const c = this.connecting;
      if (!c || c.handleType === handleType) return { "dagsmith-handle--optional": optional };
      const [source, target] = handleType === "target" ? [c.portType, port.type] : [port.type, c.portType];
      const fits = (this.compatibility[source] || []).includes(target);
      return { "dagsmith-handle--optional": optional, "dagsmith-handle--fits": fits, "dagsmith-handle--misfit": !fits };
    },

    // ---- Vue Flow -> JS -----------------------------------------------------------------------

    onInit(instance) {
      this.flow = markRaw(instance);
      this.$watch(
        () => [this.flow.getSelectedNodes.value.map((n) => n.id), this.flow.getSelectedEdges.value.map((e) => e.id)],
        ([nodes, edges]) => {
          if (sameIds(nodes, this.selection.nodes) && sameIds(edges, this.selection.edges)) return;
          this.selection = { nodes, edges };
          this.$emit("selectionChanged", { nodes, edges });
        },
      );
      this.$emit("canvasReady");
    },
    onNodesChange(changes) {
      this.flow.applyNodeChanges(changes.filter((c) => LOCAL_CHANGES.has(c.type)));
    },
    onEdgesChange(changes) {
      this.flow.applyEdgeChanges(changes.filter((c) => LOCAL_CHANGES.has(c.type)));
    },
    onNodesInitialized() {
      if (!this.pendingFit) return;
      this.pendingFit = false;
      this.fitView(0);
    },
    // Vue Flow reports nodesInitialized only when a node still had to be measured, not for nodes it
    // kept from the previous graph, so check once the new graph has rendered.
    fitWhenMeasured() {
      this.pendingFit = true;
      this.$nextTick(() => {
        const nodes = this.flow.nodes.value;
        if (!nodes.length) this.pendingFit = false;
        else if (nodes.every((n) => n.dimensions.width && n.dimensions.height)) this.onNodesInitialized();
      });
    },
    // Changes Python makes are not echoed back as selectionChanged.
    rememberSelection() {
      this.selection = {
        nodes: this.flow.getSelectedNodes.value.map((n) => n.id),
        edges: this.flow.getSelectedEdges.value.map((e) => e.id),
      };
    },
    onDragStop({ node, nodes }) {
      const moved = (nodes && nodes.length ? nodes : [node]).map((n) => ({
        id: n.id,
        x: round(n.position.x),
        y: round(n.position.y),
      }));
      const first = moved.find((n) => n.id === node?.id) || moved[0];
      if (first) this.$emit("nodeMoved", { ...first, nodes: moved });
    },
    onConnect(connection) {
      this.$emit("edgeRequested", {
        source: connection.source,
        source_port: connection.sourceHandle,
        target: connection.target,
        target_port: connection.targetHandle,
      });
    },
    onConnectStart({ nodeId, handleId, handleType }) {
      const data = this.flow.findNode(nodeId)?.data;
      const ports = handleType === "source" ? data?.outputs : data?.inputs;
      const port = (ports || []).find((p) => p.name === handleId);
      this.connecting = port ? { handleType, portType: port.type } : null;
    },
    onConnectEnd(event) {
      this.connecting = null;
      if (event && "clientX" in event) this.pointer = { x: event.clientX, y: event.clientY };
    },
    onNodeClick({ node }) {
      this.$emit("nodeClicked", { id: node.id });
    },
    onViewportChange(viewport) {
      this.viewportLatest = { x: round(viewport.x), y: round(viewport.y), zoom: round(viewport.zoom, 6) }; // the view is restored from this on undo: keep the zoom exact
      if (this.viewportTimer) return;
      this.viewportTimer = setTimeout(() => {
        this.viewportTimer = null;
        this.$emit("viewportChanged", this.viewportLatest);
      }, VIEWPORT_THROTTLE_MS);
    },

    // ---- DOM -> JS ----------------------------------------------------------------------------

    onPointerMove(event) {
      this.pointer = { x: event.clientX, y: event.clientY };
    },
    onDragOver(event) {
      if (this.readOnlyNow || !event.dataTransfer?.types.includes(DRAG_TYPE)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    },
    onDrop(event) {
      const kind = event.dataTransfer?.getData(DRAG_TYPE);
      if (this.readOnlyNow || !kind || !this.flow) return;
      event.preventDefault();
      this.active = true;
      const { x, y } = this.flow.screenToFlowCoordinate({ x: event.clientX, y: event.clientY });
      // The node's top-left, so that the drop point lands on the middle of its header.
      this.$emit("nodeDropped", { kind, x: round(x - DROP_OFFSET.x), y: round(y - DROP_OFFSET.y) });
    },
    pastePoint() {
      const box = this.$el.getBoundingClientRect();
      const p = this.pointer;
      const inside = p && p.x >= box.left && p.x <= box.right && p.y >= box.top && p.y <= box.bottom;
      const at = inside ? p : { x: box.left + box.width / 2, y: box.top + box.height / 2 };
      const { x, y } = this.flow.screenToFlowCoordinate(at);
      return { x: round(x), y: round(y) };
    },
    onKeyDown(event) {
      if (!this.flow || !this.active || event.defaultPrevented || isEditable(event.target)) return;
      const key = event.key.toLowerCase();
      const mod = event.ctrlKey || event.metaKey;
      const { nodes, edges } = this.selection;
      let request = null;
      if (!mod && (key === "delete" || key === "backspace")) {
        if (!this.readOnlyNow && (nodes.length || edges.length)) {
          request = ["deleteRequested", { node_ids: nodes, edge_ids: edges }];
        }
      } else if (mod && !event.altKey && !event.shiftKey && key === "f") {
        request = ["search"];
      } else if (mod && !event.altKey && key === "c") {
        if (nodes.length) request = ["copyRequested", { node_ids: nodes }];
      } else if (mod && !event.altKey && !this.readOnlyNow) {
        if (key === "v") request = ["pasteRequested", this.pastePoint()];
        else if (key === "z") request = [event.shiftKey ? "redoRequested" : "undoRequested"];
        else if (key === "y") request = ["redoRequested"];
      }
      if (!request) return;
      event.preventDefault();
      if (request[0] === "search") this.focusSearch();
      else this.$emit(...request);
    },
  },
};

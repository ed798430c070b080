// ELK (Eclipse Layout Kernel, EPL-2.0) for the auto-layout: a separate chunk, loaded on the first layout only.
import ELK from "elkjs/lib/elk.bundled.js";

export default ELK;

// Running the tape. Ops push a node (tape.ts) when grad mode is on and an input requires grad; backward() walks the
// nodes in reverse through the rules of backward.ts, accumulates into .grad, then clears the tape and gives every
// intermediate buffer back to the pool. Leaf tensors (parameters) keep their own exact-size .grad across calls, so
// gradient accumulation is just several backward() calls before the optimizer step.
import { RetuneError } from '../util/errors.js';
import { getBackend } from '../backend/index.js';
import { acquire, release } from './pool.js';
import { Tensor } from './tensor.js';
import { backwardTable, rerunTable, type Rule } from './backward.js';
import { GradSink, noGrad, record, recording, type Node, type OpName } from './tape.js';

export { noGrad, tapeLength, willRecord } from './tape.js';

// Values made through replayable() inside a checkpointed function: recorded in its forward, handed back in order
// when backward recomputes it.
interface Replay {
  values: unknown[];
  next: number;
  recording: boolean;
  parent: Replay | null; // a checkpoint nested in a recomputation takes its values from the outer replay
}
let replay: Replay | null = null;

// The table of backward.ts and the checkpoint rule, which recomputes on the tape this file runs.
const rules: Record<OpName, Rule> = {
  ...backwardTable,
  checkpoint: (node, gOut) => recomputeBackward(node, gOut),
};

// Drops the tape without a backward pass (an evaluation forward run in grad mode, an aborted step).
export function clearTape(): void {
  const nodes = recording.nodes;
  recording.nodes = [];
  releaseNodes(nodes, null);
}

export function backward(loss: Tensor): void {
  if (!loss.requiresGrad) {
    throw new RetuneError('backward(): the loss does not require grad (no trainable parameter reached it, it was computed under noGrad, or backward() already ran on it)');
  }
  const nodes = recording.nodes;
  recording.nodes = [];
  const seed = acquire(loss.size);
  seed.fill(1);
  try {
    runBackward(nodes, loss, seed);
  } finally {
    release(seed);
    releaseNodes(nodes, loss);
  }
}

// Runs fn without the tape in the forward pass and again, recorded, during backward: activations inside fn are
// not kept, at the price of a second forward. fn must read only `inputs` and parameters, and draw anything random
// through replayable().
export function checkpoint(fn: (inputs: Tensor[]) => Tensor, inputs: Tensor[]): Tensor {
  if (!recording.enabled) return fn(inputs);
  const outer = recording.arena;
  const outerReplay = replay;
  const collected: Float32Array[] = [];
  const values: unknown[] = [];
  recording.arena = collected;
  replay = { values, next: 0, recording: true, parent: outerReplay };
  let out: Tensor;
  try {
    out = noGrad(() => fn(inputs));
  } catch (err) {
    for (const buf of collected) release(buf);
    throw err;
  } finally {
    recording.arena = outer;
    replay = outerReplay;
  }
  const kept = out.data.buffer;
  let owned = false;
  for (const buf of collected) {
    if (buf.buffer === kept && !owned) owned = true;
    else release(buf);
  }
  const result = new Tensor(out.data, out.shape);
  result.pooled = owned;
  record('checkpoint', inputs, result, { buffers: [], fn, replay: values });
  return result;
}

// Gives back t's buffer now, once every op that reads t has been recorded: backward makes it again from its
// producer's inputs for the first rule that reads it and gives it back at the producer's turn. Memory for a second
// pass of a cheap op (the decoder drops its normed inputs, rotated q/k and SwiGLU product). Outside recording (no
// producer: under noGrad or inside a checkpointed function's forward) there is nothing kept to drop.
export function dropUntilBackward(t: Tensor): void {
  const producer = t.producer as Node | null;
  if (producer === null) return;
  if (rerunTable[producer.op] === undefined) throw new RetuneError(`dropUntilBackward: ${producer.op} outputs cannot be made again`);
  if (t.pooled) release(t.data);
  t.drop();
}

// For anything random inside a function that may be checkpointed (dropout masks): the value made in the forward is
// returned again when backward recomputes the function, so the recomputation sees the same mask and the generator
// advances once per step, as without checkpointing. Outside checkpoint() it simply calls make().
export function replayable<T>(make: () => T): T {
  return take(replay, make);
}

function take<T>(state: Replay | null, make: () => T): T {
  if (state === null) return make();
  if (state.recording) {
    const value = take(state.parent, make);
    state.values.push(value);
    return value;
  }
  if (state.next >= state.values.length) {
    throw new RetuneError('checkpoint: the recomputed function made more replayable values than its forward did');
  }
  return state.values[state.next++] as T;
}

// The backward of a checkpoint node: recompute fn on a private tape, then push gradOutput through it.
function recomputeBackward(node: Node, gradOutput: Float32Array): void {
  const fn = node.saved.fn;
  if (fn === undefined) throw new RetuneError('checkpoint: node has no function');
  const outerTape = recording.nodes;
  const outerGrad = recording.enabled;
  const outerReplay = replay;
  recording.nodes = [];
  recording.enabled = true;
  replay = { values: node.saved.replay ?? [], next: 0, recording: false, parent: null };
  let nodes: Node[] = [];
  let out: Tensor | null = null;
  try {
    out = fn(node.inputs);
    nodes = recording.nodes;
    if (out.requiresGrad) runBackward(nodes, out, gradOutput);
  } finally {
    recording.nodes = outerTape;
    recording.enabled = outerGrad;
    replay = outerReplay;
    releaseNodes(nodes, null);
  }
}

function runBackward(nodes: Node[], root: Tensor, seed: Float32Array): void {
  if (root.producer === null) {
    accumulateLeaf(root, seed);
    return;
  }
  root.grad = acquire(root.size);
  root.grad.set(seed);
  // Dropped tensors made again for a rule: kept for the other rules that read them (q, k and v all read one normed
  // input) until their producer's turn, which comes after every consumer's.
  const remade = new Set<Tensor>();
  try {
    for (let i = nodes.length - 1; i >= 0; i--) {
      const node = nodes[i];
      if (remade.delete(node.output)) giveBack(node.output);
      const gOut = node.output.grad;
      if (gOut === null) continue;
      const sink = new GradSink(node);
      remakeDropped(node.inputs, remade);
      rules[node.op](node, gOut, sink);
      sink.finish();
      // Every consumer of this output ran before its producer, so its gradient is complete and now spent: giving it
      // back at once keeps only the gradients still to be used alive (LoRA training's peak drops by about a third).
      if (node.output !== root) {
        release(gOut);
        node.output.grad = null;
      }
    }
  } finally {
    for (const t of remade) giveBack(t);
  }
}

// A node's dropped inputs, made again from their producers' inputs into pool buffers (rerunTable).
function remakeDropped(inputs: Tensor[], remade: Set<Tensor>): void {
  for (const t of inputs) {
    if (!t.dropped) continue;
    const producer = t.producer as Node;
    t.data = acquire(t.size);
    rerunTable[producer.op]!(producer, t.data);
    t.dropped = false;
    remade.add(t);
  }
}

// A remade tensor's buffer back to the pool: dropped again until the tape is cleared.
function giveBack(t: Tensor): void {
  release(t.data);
  t.drop();
}

function accumulateLeaf(t: Tensor, g: Float32Array): void {
  if (t.grad === null) t.grad = new Float32Array(t.size);
  getBackend().add(t.grad, g, t.grad, t.size);
}

function releaseNodes(nodes: Node[], keep: Tensor | null): void {
  for (const node of nodes) {
    const out = node.output;
    for (const buf of node.saved.buffers) release(buf);
    node.saved.buffers = [];
    if (out.grad !== null) {
      release(out.grad);
      out.grad = null;
    }
    out.producer = null;
    out.requiresGrad = false;
    if (out === keep) {
      // The loss stays readable in a small copy of its own, so its pool buffer can go back.
      const value = out.data.slice();
      if (out.pooled) release(out.data);
      out.data = value;
      out.pooled = false;
      continue;
    }
    if (out.pooled) release(out.data);
    out.release();
  }
}


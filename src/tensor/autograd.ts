// The tape. Ops push a node when grad mode is on and an input requires grad; backward() walks the nodes in reverse
// through the one table in backward.ts, accumulates into .grad, then clears the tape and gives every intermediate
// buffer back to the pool. Leaf tensors (parameters) keep their own exact-size .grad across calls, so gradient
// accumulation is just several backward() calls before the optimizer step.
import { RetuneError } from '../util/errors.js';
import { getBackend } from '../backend/index.js';
import { acquire, acquireZeroed, release } from './pool.js';
import { Tensor } from './tensor.js';
import type { RopeTable } from './rope.js';
import { backwardTable } from './backward.js';

// What an op keeps for its backward. `buffers` are pool buffers owned by the node and released with the tape.
export interface Saved {
  buffers: Float32Array[];
  ids?: Int32Array;
  positions?: Int32Array;
  segments?: Int32Array | null;
  table?: RopeTable;
  scale?: number;
  window?: number | null;
  eps?: number;
  normalizer?: number;
  transA?: boolean;
  transB?: boolean;
  fn?: (inputs: Tensor[]) => Tensor;
  replay?: unknown[];
}

export interface Node {
  op: string;
  inputs: Tensor[];
  output: Tensor;
  saved: Saved;
}

let gradEnabled = true;
let tape: Node[] = [];
// While a checkpointed function runs its forward without the tape, its buffers come from the pool and are collected
// here so they can go back as soon as the function returns.
let arena: Float32Array[] | null = null;
// Values made through replayable() inside a checkpointed function: recorded in its forward, handed back in order
// when backward recomputes it.
interface Replay {
  values: unknown[];
  next: number;
  recording: boolean;
  parent: Replay | null; // a checkpoint nested in a recomputation takes its values from the outer replay
}
let replay: Replay | null = null;

export function willRecord(inputs: Tensor[]): boolean {
  return gradEnabled && inputs.some((t) => t.requiresGrad);
}

// A buffer for an op's output or saved state: pooled when the tape (or a checkpoint arena) will give it back.
export function allocate(n: number, recorded: boolean): Float32Array {
  if (recorded) return acquire(n);
  if (arena !== null) {
    const buf = acquire(n);
    arena.push(buf);
    return buf;
  }
  return new Float32Array(n);
}

export function output(shape: number[], recorded: boolean): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const t = new Tensor(allocate(n, recorded), shape);
  t.pooled = recorded;
  return t;
}

export function record(op: string, inputs: Tensor[], out: Tensor, saved: Saved): void {
  const node: Node = { op, inputs, output: out, saved };
  out.requiresGrad = true;
  out.producer = node;
  tape.push(node);
}

export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

export function tapeLength(): number {
  return tape.length;
}

// Drops the tape without a backward pass (an evaluation forward run in grad mode, an aborted step).
export function clearTape(): void {
  const nodes = tape;
  tape = [];
  releaseNodes(nodes, null);
}

export function backward(loss: Tensor): void {
  if (!loss.requiresGrad) {
    throw new RetuneError('backward(): the loss does not require grad (no trainable parameter reached it, it was computed under noGrad, or backward() already ran on it)');
  }
  const nodes = tape;
  tape = [];
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
  if (!gradEnabled) return fn(inputs);
  const outer = arena;
  const outerReplay = replay;
  const collected: Float32Array[] = [];
  const values: unknown[] = [];
  arena = collected;
  replay = { values, next: 0, recording: true, parent: outerReplay };
  let out: Tensor;
  try {
    out = noGrad(() => fn(inputs));
  } catch (err) {
    for (const buf of collected) release(buf);
    throw err;
  } finally {
    arena = outer;
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
export function recomputeBackward(node: Node, gradOutput: Float32Array): void {
  const fn = node.saved.fn;
  if (fn === undefined) throw new RetuneError('checkpoint: node has no function');
  const outerTape = tape;
  const outerGrad = gradEnabled;
  const outerReplay = replay;
  tape = [];
  gradEnabled = true;
  replay = { values: node.saved.replay ?? [], next: 0, recording: false, parent: null };
  let nodes: Node[] = [];
  let out: Tensor | null = null;
  try {
    out = fn(node.inputs);
    nodes = tape;
    if (out.requiresGrad) runBackward(nodes, out, gradOutput);
  } finally {
    tape = outerTape;
    gradEnabled = outerGrad;
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
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    const gOut = node.output.grad;
    if (gOut === null) continue;
    const rule = backwardTable[node.op];
    if (rule === undefined) throw new RetuneError(`backward(): no backward rule for op '${node.op}'`);
    const sink = new GradSink(node);
    rule(node, gOut, sink);
    sink.finish();
    // Every consumer of this output ran before its producer, so its gradient is complete and now spent: giving it
    // back at once keeps only the gradients still to be used alive (LoRA training's peak drops by about a third).
    if (node.output !== root) {
      release(gOut);
      node.output.grad = null;
    }
  }
}

function accumulateLeaf(t: Tensor, g: Float32Array): void {
  if (t.grad === null) t.grad = new Float32Array(t.size);
  getBackend().add(t.grad, g, t.grad, t.size);
}

// Intermediates get pool gradients (released with the tape); leaves get their own zeroed, exact-size .grad.
function newGrad(t: Tensor, zeroed: boolean): Float32Array {
  if (t.producer !== null) return zeroed ? acquireZeroed(t.size) : acquire(t.size);
  return new Float32Array(t.size);
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

// Where a backward rule writes input gradients. A rule either overwrites a buffer (merged into an existing .grad by
// finish()) or accumulates straight into the input's .grad with a kernel that can add.
export class GradSink {
  private readonly node: Node;
  private readonly pending: { target: Tensor; buf: Float32Array }[] = [];
  private readonly scratch: Float32Array[] = [];

  constructor(node: Node) {
    this.node = node;
  }

  needs(i: number): boolean {
    return this.node.inputs[i].requiresGrad;
  }

  // A buffer to overwrite with input i's gradient, or a scratch buffer when input i needs none.
  overwrite(i: number): Float32Array {
    const t = this.node.inputs[i];
    if (!t.requiresGrad) return this.temp(t.size);
    if (t.grad === null) {
      t.grad = newGrad(t, false);
      return t.grad;
    }
    const buf = acquire(t.size);
    this.pending.push({ target: t, buf });
    return buf;
  }

  // Input i's own .grad; `accumulate` is false when it was just created, so the kernel may overwrite it.
  accumulate(i: number): { buf: Float32Array; accumulate: boolean } | null {
    const t = this.node.inputs[i];
    if (!t.requiresGrad) return null;
    if (t.grad === null) {
      t.grad = newGrad(t, false);
      return { buf: t.grad, accumulate: false };
    }
    return { buf: t.grad, accumulate: true };
  }

  // Input i's .grad, zero-filled when new, for kernels that only know how to add.
  zeroedOrExisting(i: number): Float32Array | null {
    const t = this.node.inputs[i];
    if (!t.requiresGrad) return null;
    if (t.grad === null) t.grad = newGrad(t, true);
    return t.grad;
  }

  temp(n: number): Float32Array {
    const buf = acquire(n);
    this.scratch.push(buf);
    return buf;
  }

  finish(): void {
    const backend = getBackend();
    for (const { target, buf } of this.pending) {
      const g = target.grad as Float32Array;
      backend.add(g, buf, g, target.size);
      release(buf);
    }
    for (const buf of this.scratch) release(buf);
  }
}

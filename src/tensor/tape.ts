// The tape ops record on: the node type, the recording state, and the sink backward rules write gradients into.
// Ops (ops.ts, lora-linear.ts, ...) need only this file to record; autograd.ts runs the tape backward through the
// rules of backward.ts, so neither the ops nor the rules import the file that runs them.
import { getBackend } from '../backend/index.js';
import { acquire, acquireZeroed, release } from './pool.js';
import { Tensor } from './tensor.js';
import type { RopeTable } from './rope.js';

// Every op the tape knows; backward.ts must give each a rule (its table is typed over this union).
export type OpName =
  | 'linear' | 'matmul' | 'embedding' | 'rmsnorm' | 'rope' | 'attention' | 'swiglu' | 'crossEntropy'
  | 'linearCrossEntropy' | 'loraLinear' | 'sequenceLogProbs' | 'add' | 'mul' | 'scale' | 'reshape' | 'gatherRows'
  | 'scalarWithGrad' | 'checkpoint';

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
  op: OpName;
  inputs: Tensor[];
  output: Tensor;
  saved: Saved;
}

// The recording state, swapped by autograd.ts around backward passes and checkpointed functions. `arena`: while a
// checkpointed function runs its forward without the tape, its buffers come from the pool and are collected here so
// they can go back as soon as the function returns.
export const recording: { enabled: boolean; nodes: Node[]; arena: Float32Array[] | null } = {
  enabled: true,
  nodes: [],
  arena: null,
};

export function willRecord(inputs: Tensor[]): boolean {
  return recording.enabled && inputs.some((t) => t.requiresGrad);
}

// A buffer for an op's output or saved state: pooled when the tape (or a checkpoint arena) will give it back.
export function allocate(n: number, recorded: boolean): Float32Array {
  if (recorded) return acquire(n);
  if (recording.arena !== null) {
    const buf = acquire(n);
    recording.arena.push(buf);
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

export function record(op: OpName, inputs: Tensor[], out: Tensor, saved: Saved): void {
  const node: Node = { op, inputs, output: out, saved };
  out.requiresGrad = true;
  out.producer = node;
  recording.nodes.push(node);
}

export function noGrad<T>(fn: () => T): T {
  const previous = recording.enabled;
  recording.enabled = false;
  try {
    return fn();
  } finally {
    recording.enabled = previous;
  }
}

export function tapeLength(): number {
  return recording.nodes.length;
}

// Intermediates get pool gradients (released with the tape); leaves get their own zeroed, exact-size .grad.
function newGrad(t: Tensor, zeroed: boolean): Float32Array {
  if (t.producer !== null) return zeroed ? acquireZeroed(t.size) : acquire(t.size);
  return new Float32Array(t.size);
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

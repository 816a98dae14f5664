// A tiny decoder-only transformer assembled from src/nn, for engine tests that need a whole training step.
import { add, crossEntropy, reshape } from '../../src/tensor/ops.js';
import { checkpoint } from '../../src/tensor/autograd.js';
import { RopeTable } from '../../src/tensor/rope.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Attention, Embedding, Linear, MLP, RMSNorm } from '../../src/nn/index.js';
import { param, rng } from '../tensor/helpers.js';

export interface TinyConfig {
  V: number;
  C: number;
  nLayer: number;
  nHead: number;
  nKV: number;
  hidden: number; // MLP width
}

interface Layer {
  inputNorm: RMSNorm;
  attn: Attention;
  postNorm: RMSNorm;
  mlp: MLP;
}

export class TinyLM {
  readonly embed: Embedding;
  readonly layers: Layer[];
  readonly norm: RMSNorm;
  readonly head: Linear;
  gradientCheckpointing = false;

  constructor(cfg: TinyConfig, seed: number) {
    const r = rng(seed);
    const hd = cfg.C / cfg.nHead;
    const lin = (out: number, inF: number): Linear => new Linear(param([out, inF], r, 1 / Math.sqrt(inF)));
    const norm = (n: number): RMSNorm => {
      const w = param([n], r);
      w.data.fill(1);
      return new RMSNorm(w, 1e-6);
    };
    const rope = new RopeTable({ theta: 10000, hd });
    this.embed = new Embedding(param([cfg.V, cfg.C], r));
    this.layers = Array.from({ length: cfg.nLayer }, () => ({
      inputNorm: norm(cfg.C),
      attn: new Attention({
        qProj: lin(cfg.C, cfg.C), kProj: lin(cfg.nKV * hd, cfg.C), vProj: lin(cfg.nKV * hd, cfg.C), oProj: lin(cfg.C, cfg.C),
        qNorm: null, kNorm: null, nHead: cfg.nHead, nKV: cfg.nKV, hd, rope,
      }),
      postNorm: norm(cfg.C),
      mlp: new MLP({ gateProj: lin(cfg.hidden, cfg.C), upProj: lin(cfg.hidden, cfg.C), downProj: lin(cfg.C, cfg.hidden) }),
    }));
    this.norm = norm(cfg.C);
    this.head = lin(cfg.V, cfg.C);
  }

  parameters(): Tensor[] {
    const named = [
      ...this.embed.namedParameters('embed'),
      ...this.layers.flatMap((l, i) => [
        ...l.inputNorm.namedParameters(`${i}.in`), ...l.attn.namedParameters(`${i}.attn`),
        ...l.postNorm.namedParameters(`${i}.post`), ...l.mlp.namedParameters(`${i}.mlp`),
      ]),
      ...this.norm.namedParameters('norm'),
      ...this.head.namedParameters('head'),
    ];
    return named.map(([, t]) => t);
  }

  // Next-token loss: targets are ids shifted left, the last position of each row ignored.
  loss(ids: Int32Array, B: number, T: number, segments: Int32Array | null = null): Tensor {
    const positions = new Int32Array(B * T);
    for (let i = 0; i < B * T; i++) positions[i] = i % T;
    let h = this.embed.forward(ids, [B, T]); // (B, T, C)
    for (const layer of this.layers) {
      const block = ([x]: Tensor[]): Tensor => {
        const a = add(x, layer.attn.forward(layer.inputNorm.forward(x), positions, segments));
        return add(a, layer.mlp.forward(layer.postNorm.forward(a)));
      };
      h = this.gradientCheckpointing ? checkpoint(block, [h]) : block([h]);
    }
    const logits = this.head.forward(this.norm.forward(h)); // (B, T, V)
    const targets = new Int32Array(B * T);
    for (let i = 0; i < B * T; i++) targets[i] = i % T === T - 1 ? -100 : ids[i + 1];
    return crossEntropy(reshape(logits, [B * T, logits.shape[2]]), targets, B * (T - 1));
  }
}

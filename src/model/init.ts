// Random weights for `train_from_scratch` and benchmarks, as transformers' _init_weights does for the Llama family:
// Linear and Embedding weights ~ N(0, initializer_range), biases 0, RMSNorm weights 1.
import { Rng } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import type { CausalLM } from './causal-lm.js';
import type { ModelConfig } from './config.js';
import { buildModel } from './load.js';

// Every stored tensor of a model with this config, by HF name, in torch's order.
export function parameterShapes(config: ModelConfig): Map<string, number[]> {
  const { hidden_size: C, intermediate_size: I, vocab_size: V, head_dim: hd } = config;
  const { num_attention_heads: nHead, num_key_value_heads: nKV } = config;
  const shapes = new Map<string, number[]>();
  const linear = (name: string, out: number, inF: number, bias: boolean): void => {
    shapes.set(`${name}.weight`, [out, inF]);
    if (bias) shapes.set(`${name}.bias`, [out]);
  };
  shapes.set('model.embed_tokens.weight', [V, C]);
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    linear(`${p}.self_attn.q_proj`, nHead * hd, C, config.qkv_bias);
    linear(`${p}.self_attn.k_proj`, nKV * hd, C, config.qkv_bias);
    linear(`${p}.self_attn.v_proj`, nKV * hd, C, config.qkv_bias);
    linear(`${p}.self_attn.o_proj`, C, nHead * hd, config.o_bias);
    if (config.qk_norm) {
      shapes.set(`${p}.self_attn.q_norm.weight`, [hd]);
      shapes.set(`${p}.self_attn.k_norm.weight`, [hd]);
    }
    linear(`${p}.mlp.gate_proj`, I, C, config.mlp_bias);
    linear(`${p}.mlp.up_proj`, I, C, config.mlp_bias);
    linear(`${p}.mlp.down_proj`, C, I, config.mlp_bias);
    shapes.set(`${p}.input_layernorm.weight`, [C]);
    shapes.set(`${p}.post_attention_layernorm.weight`, [C]);
  }
  shapes.set('model.norm.weight', [C]);
  if (!config.tie_word_embeddings) shapes.set('lm_head.weight', [V, C]);
  return shapes;
}

export function initModel(config: ModelConfig, seed: number): CausalLM {
  const std = typeof config.raw.initializer_range === 'number' ? config.raw.initializer_range : 0.02;
  const rng = new Rng(seed, 0x1417);
  const tensors = new Map<string, Tensor>();
  for (const [name, shape] of parameterShapes(config)) {
    const t = Tensor.zeros(shape);
    if (name.endsWith('norm.weight')) t.data.fill(1);
    else if (!name.endsWith('.bias')) for (let i = 0; i < t.size; i++) t.data[i] = rng.nextNormal() * std;
    tensors.set(name, t);
  }
  return buildModel(config, tensors, () => 'random initialisation');
}

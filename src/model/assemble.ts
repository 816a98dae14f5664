// The structure of a Llama-family decoder, once: which HF-named tensor of which shape goes where. Loading hands in
// tensors read from files, random initialisation hands in fresh ones.
import { Attention, Embedding, Linear, MLP, RMSNorm } from '../nn/index.js';
import { RopeTable } from '../tensor/rope.js';
import type { Tensor } from '../tensor/tensor.js';
import { CausalLM, DecoderLayer } from './causal-lm.js';
import type { ModelConfig } from './config.js';

export function assembleModel(config: ModelConfig, take: (name: string, shape: number[]) => Tensor): CausalLM {
  const { hidden_size: C, intermediate_size: I, vocab_size: V, head_dim: hd } = config;
  const { num_attention_heads: nHead, num_key_value_heads: nKV, rms_norm_eps: eps } = config;
  const linear = (name: string, out: number, inF: number, bias: boolean): Linear =>
    new Linear(take(`${name}.weight`, [out, inF]), bias ? take(`${name}.bias`, [out]) : null);
  const norm = (name: string, n: number): RMSNorm => new RMSNorm(take(`${name}.weight`, [n]), eps);
  const rope = new RopeTable({ theta: config.rope_theta, hd, scaling: config.rope_scaling });

  const embedTokens = new Embedding(take('model.embed_tokens.weight', [V, C]));
  const layers: DecoderLayer[] = [];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    const selfAttn = new Attention({
      qProj: linear(`${p}.self_attn.q_proj`, nHead * hd, C, config.qkv_bias),
      kProj: linear(`${p}.self_attn.k_proj`, nKV * hd, C, config.qkv_bias),
      vProj: linear(`${p}.self_attn.v_proj`, nKV * hd, C, config.qkv_bias),
      oProj: linear(`${p}.self_attn.o_proj`, C, nHead * hd, config.o_bias),
      qNorm: config.qk_norm ? norm(`${p}.self_attn.q_norm`, hd) : null,
      kNorm: config.qk_norm ? norm(`${p}.self_attn.k_norm`, hd) : null,
      nHead,
      nKV,
      hd,
      rope,
    });
    const mlp = new MLP({
      gateProj: linear(`${p}.mlp.gate_proj`, I, C, config.mlp_bias),
      upProj: linear(`${p}.mlp.up_proj`, I, C, config.mlp_bias),
      downProj: linear(`${p}.mlp.down_proj`, C, I, config.mlp_bias),
    });
    const inputLayernorm = norm(`${p}.input_layernorm`, C);
    const postAttentionLayernorm = norm(`${p}.post_attention_layernorm`, C);
    layers.push(new DecoderLayer({ inputLayernorm, selfAttn, postAttentionLayernorm, mlp }));
  }
  const finalNorm = norm('model.norm', C);
  const lmHead = config.tie_word_embeddings ? new Linear(embedTokens.weight) : linear('lm_head', V, C, false);
  return new CausalLM(config, { embedTokens, layers, norm: finalNorm, lmHead });
}

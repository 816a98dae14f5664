import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { UsageError } from '../../../src/util/errors.js';
import { configSchema } from '../../../src/config/schema.js';
import type { CausalLM } from '../../../src/model/causal-lm.js';
import { applyFinetuning, mergeAdapterPaths } from '../../../src/model/adapters/index.js';
import { LoraAdapter } from '../../../src/model/adapters/lora.js';
import { loadModel } from '../../../src/model/load.js';
import { backward, noGrad } from '../../../src/tensor/autograd.js';

const FIXTURES = 'test/fixtures/peft';
const BASE = join(FIXTURES, 'base');
const golden = JSON.parse(readFileSync(join(FIXTURES, 'logits.json'), 'utf8')) as Record<string, number[]> & { ids: number[][] };
const ids = Int32Array.from(golden.ids.flat());
const [B, T] = [golden.ids.length, golden.ids[0].length];
const LINEARS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

function config(keys: Record<string, unknown>) {
  return configSchema.parse({ model_name_or_path: BASE, ...keys });
}

function logits(model: CausalLM): Float32Array {
  return noGrad(() => model.forward(ids, B, T)).data.slice();
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function frozenExcept(model: CausalLM, trainable: Map<string, unknown>): void {
  for (const [name, t] of model.namedParameters()) assert.equal(t.requiresGrad, trainable.has(name), name);
}

// One plain SGD step on the fixed ids; returns the loss before it.
function sgdStep(model: CausalLM, trainable: Map<string, { data: Float32Array; grad: Float32Array | null }>, lr: number): number {
  const loss = model.loss(ids, ids, B, T);
  const value = loss.item();
  backward(loss);
  for (const t of trainable.values()) {
    for (let i = 0; i < t.data.length; i++) t.data[i] -= lr * t.grad![i];
    t.grad = null;
  }
  return value;
}

test('lora defaults: rank 8, alpha 16, every Linear but lm_head, and step 0 is the base model exactly', async () => {
  const model = await loadModel(BASE);
  const before = logits(model);
  const { trainable, adapters } = applyFinetuning(model, config({ finetuning_type: 'lora' }));
  assert.equal(trainable.size, 2 * LINEARS.length * 2);
  for (const name of trainable.keys()) assert.match(name, /^model\.layers\.\d\.(self_attn|mlp)\.\w+_proj\.lora_[AB]\.weight$/);
  assert.deepEqual(trainable.get('model.layers.0.mlp.down_proj.lora_A.weight')!.shape, [8, 64]);
  assert.deepEqual(trainable.get('model.layers.0.mlp.down_proj.lora_B.weight')!.shape, [32, 8]);
  assert.deepEqual([...adapters!.spec.targetModules as string[]].sort(), [...LINEARS].sort());
  assert.equal((model.layers[0].selfAttn.qProj.adapter as LoraAdapter).spec.scaling, 2);
  assert.equal(model.lmHead.adapter, null);
  frozenExcept(model, new Map());
  assert.deepEqual(logits(model), before);
});

test('lora training moves the loss, and the same seed gives the same bits', async () => {
  const run = async (seed: number): Promise<number[]> => {
    const model = await loadModel(BASE);
    const { trainable } = applyFinetuning(model, config({ finetuning_type: 'lora', lora_rank: 4, lora_dropout: 0.1, seed }));
    return [sgdStep(model, trainable, 0.5), sgdStep(model, trainable, 0.5), sgdStep(model, trainable, 0.5)];
  };
  const [first, again, other] = [await run(1), await run(1), await run(2)];
  assert.ok(first[2] < first[0], `loss ${first.join(' -> ')}`);
  assert.deepEqual(first, again);
  assert.notDeepEqual(first, other);
});

test('lora_target list, rsLoRA scale, DoRA magnitude and additional_target as modules_to_save', async () => {
  const model = await loadModel(BASE);
  const { trainable, adapters } = applyFinetuning(model, config({
    lora_target: 'q_proj,v_proj', lora_rank: 4, lora_alpha: 16, use_rslora: true, use_dora: true, additional_target: 'lm_head',
  }));
  const layer = model.layers[1].selfAttn.vProj.adapter as LoraAdapter;
  assert.equal(layer.spec.scaling, 16 / 2);
  assert.deepEqual(layer.magnitude!.shape, [16]);
  assert.equal(model.layers[1].selfAttn.kProj.adapter, null);
  assert.deepEqual([...trainable.keys()].filter((n) => !n.includes('.lora_')), ['lm_head.weight']);
  assert.equal(trainable.size, 2 * 2 * 3 + 1);
  assert.deepEqual(adapters!.spec.modulesToSave, ['lm_head']);
  frozenExcept(model, new Map([['lm_head.weight', 1]]));
});

test('lora settings that match nothing are refused by name', async () => {
  const model = await loadModel(BASE);
  assert.throws(() => applyFinetuning(model, config({ lora_target: 'q_proj,qkv' })), (e: Error) => e instanceof UsageError && /^lora_target: LoRA target "qkv" matches no Linear.*q_proj, k_proj/.test(e.message));
  assert.throws(() => applyFinetuning(model, config({ additional_target: 'head' })), (e: Error) => e instanceof UsageError && /^additional_target: module "head" to train in full matches no parameter/.test(e.message));
  assert.throws(() => applyFinetuning(model, config({ finetuning_type: 'full', adapter_name_or_path: join(FIXTURES, 'lora') })), /only valid with finetuning_type lora/);
});

test('modules_to_save on a tied model unties it as PEFT does: the named copy trains, the other keeps the original', async () => {
  for (const [target, trained] of [['lm_head', 'lm_head.weight'], ['embed_tokens', 'model.embed_tokens.weight']] as const) {
    const tied = await loadModel('test/fixtures/models/llama-tied');
    const original = tied.embedTokens.weight.values().slice();
    const { trainable } = applyFinetuning(tied, config({ additional_target: target }));
    assert.notEqual(tied.lmHead.weight, tied.embedTokens.weight);
    assert.equal(tied.config.tie_word_embeddings, false);
    assert.deepEqual([...trainable.keys()].filter((n) => !n.includes('.lora_')), [trained]);
    assert.deepEqual(tied.lmHead.weight.values(), original);
    assert.deepEqual(tied.embedTokens.weight.values(), original);
    frozenExcept(tied, new Map([[trained, 1]]));
  }
});

test('freeze: the last N layers, the first -N, chosen modules, extra modules; unknown names are refused', async () => {
  const model = await loadModel(BASE);
  const names = (keys: Record<string, unknown>): string[] => [...applyFinetuning(model, config({ finetuning_type: 'freeze', ...keys })).trainable.keys()];
  const last = names({ freeze_trainable_layers: 1 });
  assert.ok(last.length > 0 && last.every((n) => n.startsWith('model.layers.1.')));
  assert.equal(last.length, [...model.namedParameters().keys()].filter((n) => n.startsWith('model.layers.1.')).length);
  assert.ok(names({ freeze_trainable_layers: -1 }).every((n) => n.startsWith('model.layers.0.')));
  assert.equal(names({ freeze_trainable_layers: 5 }).length, 2 * last.length);
  assert.deepEqual(names({ freeze_trainable_layers: 1, freeze_trainable_modules: 'mlp' }),
    ['model.layers.1.mlp.gate_proj.weight', 'model.layers.1.mlp.up_proj.weight', 'model.layers.1.mlp.down_proj.weight']);
  const extra = names({ freeze_trainable_layers: 1, freeze_trainable_modules: 'post_attention_layernorm', freeze_extra_modules: 'embed_tokens,norm' });
  assert.deepEqual(extra.sort(), ['model.embed_tokens.weight', 'model.layers.1.post_attention_layernorm.weight', 'model.norm.weight']);
  assert.throws(() => names({ freeze_trainable_modules: 'attn' }), /"attn" is not found; choose from .*self_attn/);
  assert.throws(() => names({ freeze_extra_modules: 'head' }), /"head" is not found; choose from .*lm_head/);
});

test('full trains every parameter; with bf16 the frozen base stays bf16 and trained tensors become fp32', async () => {
  const full = await loadModel(BASE, { frozenBf16: true });
  const { trainable } = applyFinetuning(full, config({ finetuning_type: 'full', bf16: true }));
  assert.equal(trainable.size, full.namedParameters().size);
  assert.ok([...trainable.values()].every((t) => t.bf16 === null && t.requiresGrad && t.data.length === t.size));
  const lora = await loadModel(BASE, { frozenBf16: true });
  applyFinetuning(lora, config({ finetuning_type: 'lora', additional_target: 'lm_head', bf16: true }));
  for (const [name, t] of lora.namedParameters()) assert.equal(t.bf16 === null, name === 'lm_head.weight', name);
  const freeze = await loadModel(BASE, { frozenBf16: true });
  const { trainable: layer1 } = applyFinetuning(freeze, config({ finetuning_type: 'freeze', freeze_trainable_layers: 1 }));
  for (const [name, t] of freeze.namedParameters()) assert.equal(t.bf16 === null, layer1.has(name), name);
});

test('adapter_name_or_path: earlier adapters are merged, the last one trains on; create_new_adapter merges all', async () => {
  const paths = [join(FIXTURES, 'lora'), join(FIXTURES, 'dora')];
  const reference = await loadModel(BASE);
  mergeAdapterPaths(reference, paths);
  const expected = logits(reference);

  const resumed = await loadModel(BASE);
  const { trainable, adapters } = applyFinetuning(resumed, config({ adapter_name_or_path: paths.join(','), lora_rank: 16 }));
  assert.equal(adapters!.spec.useDora, true, 'the resumed adapter keeps its own config, not lora_rank from the run');
  assert.deepEqual(trainable.get('model.layers.0.self_attn.q_proj.lora_A.weight')!.shape, [4, 32]);
  assert.ok(trainable.has('model.layers.0.self_attn.q_proj.lora_magnitude_vector'));
  assert.ok([...trainable.values()].every((t) => t.requiresGrad));
  assert.ok(maxDiff(logits(resumed), expected) < 1e-4);

  const fresh = await loadModel(BASE);
  const created = applyFinetuning(fresh, config({ adapter_name_or_path: paths.join(','), create_new_adapter: true }));
  assert.equal(created.adapters!.spec.useDora, false);
  assert.deepEqual(created.trainable.get('model.layers.0.self_attn.q_proj.lora_A.weight')!.shape, [8, 32]);
  assert.ok(maxDiff(logits(fresh), expected) < 1e-4);
  assert.equal(fresh.layers[0].selfAttn.qProj.adapter, created.adapters!.layers.get('model.layers.0.self_attn.q_proj'));
});

test('the dropout RNG state restores the same masks (what a resumed run needs)', async () => {
  const model = await loadModel(BASE);
  const { trainable, adapters } = applyFinetuning(model, config({ lora_dropout: 0.3 }));
  for (const t of trainable.values()) if (t.shape[1] === 8) t.data.fill(0.1); // non-zero B so dropout shows in the output
  const state = adapters!.getRngState();
  const first = logits(model);
  assert.notDeepEqual(logits(model), first);
  adapters!.setRngState(state);
  assert.deepEqual(logits(model), first);
  adapters!.setTraining(false);
  const evalOut = logits(model);
  assert.deepEqual(logits(model), evalOut);
  assert.throws(() => adapters!.setRngState([0, 0, 0, 0]), /not all zero/);
});

test('with gradient checkpointing, dropout masks are replayed: same loss, same gradients, same RNG state', async () => {
  const run = async (checkpointed: boolean): Promise<{ loss: number; grads: Float32Array[]; rng: number[] }> => {
    const model = await loadModel(BASE);
    const { trainable, adapters } = applyFinetuning(model, config({ lora_dropout: 0.2, lora_rank: 4, use_dora: true, seed: 3 }));
    for (const [name, t] of trainable) if (name.endsWith('lora_B.weight')) t.data.fill(0.1);
    model.gradientCheckpointing = checkpointed;
    const loss = model.loss(ids, ids, B, T);
    const value = loss.item();
    backward(loss);
    return { loss: value, grads: [...trainable.values()].map((t) => t.grad!), rng: adapters!.getRngState() };
  };
  const [plain, checkpointed] = [await run(false), await run(true)];
  assert.equal(checkpointed.loss, plain.loss);
  assert.deepEqual(checkpointed.rng, plain.rng);
  plain.grads.forEach((g, i) => assert.ok(maxDiff(g, checkpointed.grads[i]) < 1e-6, `gradient ${i}`));
});

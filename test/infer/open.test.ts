import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { openFromConfig, openModel } from '../../src/infer/open.js';
import { UsageError } from '../../src/util/errors.js';
import type { InferDtype } from '../../src/infer/open.js';

const MODEL = 'examples/models/tiny-stories';

test('infer_dtype bfloat16 holds the weights as bf16; auto and float32 as float32', async () => {
  const bf16 = await openFromConfig(loadConfig(null, [`model_name_or_path=${MODEL}`, 'infer_dtype=bfloat16']).config);
  const weight = bf16.model.layers[0].mlp.gateProj.weight;
  assert.ok(weight.bf16 !== null && weight.data.length === 0, 'bf16 bits, no float32 copy');
  for (const dtype of ['auto', 'float32'] as const) {
    const f32 = await openModel(MODEL, { dtype });
    assert.equal(f32.model.layers[0].mlp.gateProj.weight.bf16, null);
  }
  assert.equal(bf16.template.name, 'empty', 'no template configured and no chat_template: empty');
});

test('float16 is refused, in the config and in the library', async () => {
  assert.throws(() => loadConfig(null, [`model_name_or_path=${MODEL}`, 'infer_dtype=float16']), /float16 is not supported on the CPU/);
  await assert.rejects(openModel(MODEL, { dtype: 'float16' as InferDtype }), UsageError);
});

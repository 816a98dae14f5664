import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { UsageError } from '../../src/util/errors.js';
import { configSchema } from '../../src/config/schema.js';
import { applyFinetuning, saveAdapter } from '../../src/model/adapters/index.js';
import { exportModel } from '../../src/model/export.js';
import { loadModel } from '../../src/model/load.js';
import { readSafetensorsHeader } from '../../src/model/safetensors.js';
import { BASE, FIXTURES, golden, logits, maxDiff } from './adapters/peft-fixture.js';

const scratch = mkdtempSync(join(tmpdir(), 'retune-export-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function exportConfig(keys: Record<string, unknown>) {
  return configSchema.parse({ model_name_or_path: BASE, ...keys });
}

test('exporting base + PEFT adapters gives a plain HF folder whose logits equal base + adapters', async () => {
  for (const adapters of ['lora', 'rslora', 'dora', 'lora,dora']) {
    const dir = join(scratch, `merged-${adapters.replace(',', '-')}`);
    const paths = adapters.split(',').map((a) => join(FIXTURES, a)).join(',');
    const result = await exportModel(exportConfig({ adapter_name_or_path: paths, export_dir: dir }));
    assert.equal(result.dtype, 'F32');
    assert.deepEqual(result.files, ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    assert.deepEqual(readFileSync(join(dir, 'tokenizer.json')), readFileSync(join(BASE, 'tokenizer.json')));
    const merged = await loadModel(dir);
    if (adapters.includes(',')) {
      const reference = await loadModel(BASE);
      applyFinetuning(reference, configSchema.parse({ adapter_name_or_path: paths, create_new_adapter: true }));
      assert.ok(maxDiff(logits(merged), logits(reference)) < 1e-4);
    } else {
      assert.ok(maxDiff(logits(merged), golden[adapters]) < 1e-4);
    }
  }
});

test('export_size splits the weights into shards with an index; the folder loads back identically', async () => {
  const whole = join(scratch, 'whole');
  const sharded = join(scratch, 'sharded');
  await exportModel(exportConfig({ adapter_name_or_path: join(FIXTURES, 'lora'), export_dir: whole }));
  const result = await exportModel(exportConfig({ adapter_name_or_path: join(FIXTURES, 'lora'), export_dir: sharded }), { maxShardBytes: 40_000 });
  const shards = result.files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
  assert.ok(shards.length >= 3, result.files.join(', '));
  assert.ok(result.files.includes('model.safetensors.index.json'));
  assert.deepEqual(logits(await loadModel(sharded)), logits(await loadModel(whole)));
});

test('a bf16 base is exported in bf16 with a trained adapter merged, matching the adapter model', async () => {
  const base = 'test/fixtures/models/qwen2-bf16';
  const model = await loadModel(base);
  const { trainable, adapters } = applyFinetuning(model, configSchema.parse({ lora_rank: 2, use_dora: true }));
  for (const [name, t] of trainable) if (name.endsWith('lora_B.weight')) t.data.fill(0.05);
  const adapterDir = join(scratch, 'qwen2-adapter');
  saveAdapter(adapters!, adapterDir, { model_name_or_path: base });
  const dir = join(scratch, 'qwen2-merged');
  const result = await exportModel(exportConfig({ model_name_or_path: base, adapter_name_or_path: adapterDir, export_dir: dir }));
  assert.equal(result.dtype, 'BF16');
  const header = readSafetensorsHeader(join(dir, 'model.safetensors'));
  assert.ok([...header.entries.values()].every((e) => e.dtype === 'BF16'));
  assert.equal(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).dtype, 'bfloat16');
  const merged = await loadModel(dir);
  const expected = logits(model);
  const diff = maxDiff(logits(merged), expected);
  assert.ok(diff > 0 && diff < 0.05 * Math.max(...expected.map(Math.abs)), `bf16 rounding only: ${diff}`);
});

test('a chat template from the run replaces the tokenizer one; export refuses a non-empty export_dir', async () => {
  const dir = join(scratch, 'templated');
  await exportModel(exportConfig({ export_dir: dir }), { chatTemplate: '{{ messages[0].content }}' });
  const tokenizerConfig = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
  assert.equal(tokenizerConfig.chat_template, '{{ messages[0].content }}');
  assert.equal(tokenizerConfig.eos_token, 't2');

  const occupied = join(scratch, 'occupied');
  mkdirSync(occupied);
  writeFileSync(join(occupied, 'keep.txt'), 'mine');
  await assert.rejects(exportModel(exportConfig({ export_dir: occupied })), (e: Error) => e instanceof UsageError && /occupied already exists and is not empty/.test(e.message));
  assert.deepEqual(readdirSync(occupied), ['keep.txt']);
  await assert.rejects(exportModel(exportConfig({})), /export_dir is required/);
  await assert.rejects(exportModel(exportConfig({ export_dir: join(scratch, 'bad'), adapter_name_or_path: join(scratch, 'none') })), /not a LoRA adapter folder/);
  assert.ok(!readdirSync(scratch).some((f) => f.startsWith('.bad')), 'a failed export leaves no staging folder');
});

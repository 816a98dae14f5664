// Growing the vocabulary through `retune train` (LLaMA-Factory's add_tokens / add_special_tokens /
// new_special_tokens_config / resize_vocab): the grown tokenizer and weights in output_dir, chat and export on them,
// an unchanged resume bit for bit, a changed token list refused, and the bad inputs that exit 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { loadModel } from '../../src/model/load.js';
import { readSafetensors, readSafetensorsHeader } from '../../src/model/safetensors.js';
import { maxAbsDiff } from '../model/helpers.js';
import { explain, FIXTURE, tempDir, train, writeConfig } from '../train/run-helpers.js';
import { runCli } from './run-cli.js';
import { assertResumeMatches, vocabConfig } from './vocab-config.js';

const TEXT = '<animal>zebra</animal>';
function shapes(path: string): Record<string, number[]> {
  return Object.fromEntries([...readSafetensorsHeader(path).entries].map(([name, e]) => [name, e.shape]));
}

async function assertGrownTokenizer(dir: string): Promise<void> {
  const tokenizer = await loadTokenizer(dir);
  assert.deepEqual(tokenizer.encode(TEXT, { addSpecialTokens: false }), [321, 320, 322]);
  assert.equal(tokenizer.decode([321, 320, 322]), TEXT);
  assert.equal(tokenizer.decode([321, 320, 322], { skipSpecialTokens: true }), 'zebra');
}

const lora = vocabConfig('vocab-lora');
const straight = train(lora.cfg);

test('LoRA: tokens added, embedding and LM head grown and saved as modules_to_save in PEFT layout', async () => {
  const r = await straight;
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /added zebra, <animal>, <\/animal> to the tokenizer, so resize_vocab is on/);
  assert.match(r.stdout, /Resized token embeddings from 320 to 384\./);
  for (const dir of [lora.out, join(lora.out, 'checkpoint-3')]) await assertGrownTokenizer(dir);
  const config = JSON.parse(readFileSync(join(lora.out, 'adapter_config.json'), 'utf8')) as { modules_to_save: string[] };
  assert.deepEqual(config.modules_to_save, ['embed_tokens', 'lm_head']);
  const ours = shapes(join(lora.out, 'adapter_model.safetensors'));
  assert.deepEqual(ours['base_model.model.model.embed_tokens.weight'], [384, 16]);
  assert.deepEqual(ours['base_model.model.lm_head.weight'], [384, 16]);
  // The same tensor names as the adapter PEFT itself saved for this setup (test/fixtures/vocab/generate.py).
  const peft = shapes('test/fixtures/vocab/adapter/adapter_model.safetensors');
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(peft).sort());
});

test('LoRA: chat loads the adapter with its grown tokenizer, and export writes a grown model with it', async () => {
  assert.equal((await straight).code, 0);
  const chat = runCli(['chat', `model_name_or_path=${FIXTURE}/model`, `adapter_name_or_path=${lora.out}`, 'template=chatml',
    'max_new_tokens=4', '--prompt', 'Tag animal 3']);
  assert.equal(chat.code, 0, chat.stderr);
  const exportDir = join(tempDir('vocab-export'), 'merged');
  const exported = runCli(['export', `model_name_or_path=${FIXTURE}/model`, `adapter_name_or_path=${lora.out}`, 'template=chatml',
    `export_dir=${exportDir}`]);
  assert.equal(exported.code, 0, exported.stderr);
  assert.equal((JSON.parse(readFileSync(join(exportDir, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size, 384);
  assert.deepEqual(shapes(join(exportDir, 'model.safetensors'))['model.embed_tokens.weight'], [384, 16]);
  await assertGrownTokenizer(exportDir);
  const adapter = readSafetensors(join(lora.out, 'adapter_model.safetensors'));
  const merged = readSafetensors(join(exportDir, 'model.safetensors'));
  assert.deepEqual(merged.get('lm_head.weight')?.data, adapter.get('base_model.model.lm_head.weight')?.data);
});

test('an unchanged resume of a grown run continues bit for bit; a changed token list refuses', async () => {
  assert.equal((await straight).code, 0);
  const { cfg, out } = vocabConfig('vocab-resume');
  await assertResumeMatches(cfg, out, lora.out);

  const changed = await train(cfg, ['add_tokens=zebra,lion', 'num_train_epochs=2']);
  assert.equal(changed.code, 2, explain(changed));
  assert.match(changed.stderr, /add_tokens zebra -> zebra,lion changes the structure/);
});

test('full fine-tuning with new_special_tokens_config and desc_init: grown model and tokenizer, chat, bit-identical resume', async () => {
  const dir = tempDir('vocab-full');
  const described = join(dir, 'tokens.yaml');
  writeFileSync(described, '"<animal>": "an animal name follows"\n"</animal>": "end of the animal name"\n');
  const extra = {
    finetuning_type: 'full', add_special_tokens: null, new_special_tokens_config: described, init_special_tokens: 'desc_init',
  };
  const { cfg, out } = vocabConfig('vocab-full', extra);
  const r = await train(cfg, ['max_steps=1']);
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(shapes(join(out, 'model.safetensors'))['model.embed_tokens.weight'], [384, 16]);
  assert.equal((JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size, 384);
  await assertGrownTokenizer(out);
  const chat = runCli(['chat', `model_name_or_path=${out}`, 'template=chatml', 'max_new_tokens=4', '--prompt', 'Tag animal 3']);
  assert.equal(chat.code, 0, chat.stderr);

  // The resume loads the grown checkpoint as it is (no second growth) and ends where a straight run ends.
  const resumed = await train(cfg);
  assert.equal(resumed.code, 0, explain(resumed));
  assert.doesNotMatch(resumed.stdout, /Resized token embeddings/);
  const straightFull = vocabConfig('vocab-full-straight', extra);
  assert.equal((await train(straightFull.cfg)).code, 0);
  const weights = (dir: string) => readFileSync(join(dir, 'model.safetensors'));
  assert.ok(weights(out).equals(weights(straightFull.out)), 'final weights differ from the straight run');
});

test('a template EOS the tokenizer lacks is added; without resize_vocab the run refuses as LLaMA-Factory would fail', async () => {
  const dir = tempDir('vocab-llama3');
  const cfg = writeConfig(dir, { template: 'llama3', max_steps: 1 });
  const refused = await train(cfg, ['--dry-run']);
  assert.equal(refused.code, 2, explain(refused));
  assert.match(refused.stderr, /resize_vocab: the tokenizer gained "<\|eot_id\|>" \(id 320, .*\) but the model's embedding has 320 rows; set resize_vocab: true/);
  const grown = await train(cfg, ['resize_vocab=true']);
  assert.equal(grown.code, 0, explain(grown));
  assert.match(grown.stdout, /Resized token embeddings from 320 to 384\./);
  const tokenizer = await loadTokenizer(join(dir, 'out'));
  assert.equal(tokenizer.eosToken, '<|eot_id|>');
  assert.equal(tokenizer.eosId, 320);
});

test('a new_special_tokens_config that is missing, not YAML or not a mapping exits 2 naming the key', () => {
  const dir = tempDir('vocab-bad');
  const cases: [string, string | null, RegExp][] = [
    ['missing.yaml', null, /new_special_tokens_config: .*missing\.yaml: no such file/],
    ['broken.yaml', '"<a>": [unclosed\n', /new_special_tokens_config: .*broken\.yaml: not valid YAML/],
    ['list.yaml', '- "<a>"\n- "<b>"\n', /new_special_tokens_config: .*list\.yaml: expected a mapping of each new special token/],
  ];
  for (const [name, text, message] of cases) {
    if (text !== null) writeFileSync(join(dir, name), text);
    const r = runCli(['train', writeConfig(dir), `new_special_tokens_config=${join(dir, name)}`, '--dry-run']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
  }
  assert.equal(existsSync(join(dir, 'out', 'trainer_log.jsonl')), false);
});

test('an adapter PEFT saved for a grown vocabulary exports to the logits PEFT computes', async () => {
  const exportDir = join(tempDir('vocab-peft'), 'merged');
  const r = runCli(['export', `model_name_or_path=${FIXTURE}/model`, 'adapter_name_or_path=test/fixtures/vocab/adapter',
    `export_dir=${exportDir}`]);
  assert.equal(r.code, 0, r.stderr);
  const golden = readSafetensors('test/fixtures/vocab/golden.safetensors');
  const ids = Int32Array.from(golden.get('prompt_ids')?.data ?? []);
  const tokenizer = await loadTokenizer(exportDir);
  assert.deepEqual(tokenizer.encode('<animal>zebra cat</animal>'), [...ids]);
  const model = await loadModel(exportDir);
  const logits = model.forward(ids, 1, ids.length);
  assert.deepEqual(logits.shape, [1, ids.length, 384]);
  assert.ok(maxAbsDiff(logits.data, golden.get('logits')?.data ?? new Float32Array()) < 1e-4);
});

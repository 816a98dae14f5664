// Example configs in LLaMA-Factory's key set, named after its examples (test/fixtures/lf-examples/), run on Retune
// once their model and dataset paths point at local files: supported ones plan their run, keys that do nothing here
// are named in one notice, features Retune does not have yet stop with exit 2 naming the key, and a trained adapter
// goes through the merge_lora, inference and predict examples.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';

const root = 'test/fixtures/lf-examples';
const model = `model_name_or_path=${root}/model`;
const data = `dataset_dir=${root}/data`;
const scratch = mkdtempSync(join(tmpdir(), 'retune-lf-examples-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

// Asynchronous, so several dry runs share the machine's cores.
function retune(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/retune.js', ...args], { env: { ...process.env, RETUNE_DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function explain(r: CliResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

async function inPool<T>(items: T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const runners = Array.from({ length: size }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
  });
  await Promise.all(runners);
}

// The fixture corpus is a small stand-in for LLaMA-Factory's c4_demo: cut into the examples' preprocessing_num_workers
// shards, as LLaMA-Factory cuts it, no shard would fill one 2048-token block.
const oneShard = ['preprocessing_num_workers=1'];

// Runnable training examples -> the keys named as having no effect here, in file order.
const planned: Record<string, { samples: number; ineffective: string[]; args?: string[] }> = {
  'train_lora/llama3_lora_sft.yaml': { samples: 12, ineffective: ['trust_remote_code'] },
  'train_lora/llama3_lora_pretrain.yaml': { samples: 2, ineffective: ['trust_remote_code'], args: oneShard },
  'train_lora/llama3_lora_sft_ds3.yaml': { samples: 10, ineffective: ['trust_remote_code', 'deepspeed'] },
  'train_lora/llama3_lora_sft_ray.yaml': {
    samples: 12, ineffective: ['trust_remote_code', 'dataloader_num_workers', 'ray_run_name', 'ray_num_workers'],
  },
  'train_lora/llama3_preprocess.yaml': { samples: 12, ineffective: [] },
  'train_lora/qwen3_lora_sft.yaml': { samples: 4, ineffective: ['trust_remote_code', 'dataloader_num_workers'] },
  'train_lora/qwen3_lora_pretrain.yaml': {
    samples: 2, ineffective: ['trust_remote_code', 'dataloader_num_workers'], args: oneShard,
  },
  'train_lora/llama3_lora_dpo.yaml': { samples: 6, ineffective: ['trust_remote_code'] },
  'train_lora/qwen3_lora_dpo.yaml': { samples: 6, ineffective: ['trust_remote_code', 'dataloader_num_workers'] },
  'train_lora/llama3_lora_kto.yaml': { samples: 5, ineffective: [] },
  'train_lora/llama3_lora_reward.yaml': { samples: 6, ineffective: ['trust_remote_code'] },
  'train_lora/qwen3_lora_reward.yaml': { samples: 6, ineffective: ['trust_remote_code', 'dataloader_num_workers'] },
  'train_lora/qwen3_lora_kto.yaml': { samples: 6, ineffective: ['trust_remote_code', 'dataloader_num_workers'] },
  'train_full/llama3_full_sft.yaml': { samples: 12, ineffective: ['trust_remote_code', 'deepspeed'] },
  'train_full/qwen3_full_sft.yaml': {
    samples: 12, ineffective: ['trust_remote_code', 'deepspeed', 'dataloader_num_workers'],
  },
};

// Examples of features Retune does not have yet -> what the one error says (line numbers count each file's comments).
const refused: Record<string, string> = {
  'train_lora/llama3_lora_ppo.yaml': ':7: stage: ppo is not supported yet (stages that train: pt, sft, rm, dpo, kto)',
  'extras/galore/llama3_full_sft.yaml': ':9: use_galore: the GaLore optimizer is not supported yet',
  'extras/apollo/llama3_full_sft.yaml': ':9: use_apollo: the APOLLO optimizer is not supported yet',
  'extras/badam/llama3_full_sft.yaml': ':8: use_badam: the BAdam optimizer is not supported yet',
  'extras/adam_mini/qwen2_full_sft.yaml': ':8: use_adam_mini: the Adam-mini optimizer is not supported yet',
  'extras/loraplus/llama3_lora_sft.yaml': ':9: loraplus_lr_ratio: LoRA+ (a larger learning rate for lora_B) is not',
  'extras/pissa/llama3_lora_sft.yaml': ':11: pissa_init: PiSSA initialisation is not supported yet',
  'extras/llama_pro/llama3_freeze_sft.yaml': ':10: use_llama_pro: LLaMA Pro block expansion is not supported yet',
  'extras/mod/llama3_full_sft.yaml': ':9: mixture_of_depths: mixture-of-depths is not supported yet',
  'extras/fsdp_qlora/llama3_lora_sft.yaml': ':4: quantization_bit: quantization is not supported yet',
};

// Run by export, chat and prediction in the last test.
const pipeline = [
  'merge_lora/llama3_lora_sft.yaml', 'merge_lora/qwen3_lora_sft.yaml', 'merge_lora/qwen3_full_sft.yaml',
  'inference/llama3_lora_sft.yaml', 'inference/llama3.yaml', 'train_lora/llama3_lora_predict.yaml',
];

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(path);
    return entry.name.endsWith('.yaml') ? [relative(root, path)] : [];
  });
}

const noticeLine = (keys: string[]): string => `retune: notice: accepted but no effect on this engine: ${keys.join(', ')}`;

test('every committed example is checked by this file', () => {
  const covered = [...Object.keys(planned), ...Object.keys(refused), ...pipeline].sort();
  assert.deepEqual(yamlFiles(root).sort(), covered);
});

test('supported training examples plan their run, name ineffective keys once and report no unknown keys', async () => {
  await inPool(Object.entries(planned), 2, async ([file, expected]) => {
    const out = join(scratch, file.replace(/\W/g, '_'));
    // Some examples set a relative tokenized_path; keep their cache out of the working tree.
    const cache = `tokenized_path=${join(scratch, 'cache', file.replace(/\W/g, '_'))}`;
    const overrides = [model, data, `output_dir=${out}`, cache, ...(expected.args ?? [])];
    const r = await retune(['train', join(root, file), ...overrides, '--dry-run']);
    assert.equal(r.code, 0, `${file}\n${explain(r)}`);
    assert.match(r.stdout, new RegExp(`Training plan: fresh run in ${out}, ${expected.samples} samples, `), file);
    const lines = r.stderr.split('\n').filter((line) => line !== '');
    assert.deepEqual(lines, expected.ineffective.length > 0 ? [noticeLine(expected.ineffective)] : [], file);
    assert.equal(existsSync(out), false, `${file}: a dry run writes nothing`);
  });
});

test('examples of features Retune does not have yet stop with exit 2, naming the file, line and key', async () => {
  await inPool(Object.entries(refused), 2, async ([file, message]) => {
    const path = join(root, file);
    const r = await retune(['train', path, model, data, `output_dir=${join(scratch, 'refused')}`, '--dry-run']);
    assert.equal(r.code, 2, `${file}\n${explain(r)}`);
    assert.equal(r.stdout, '', file);
    assert.ok(r.stderr.startsWith(`retune: error: ${path}${message}`), `${file}\n${r.stderr}`);
  });
  assert.equal(existsSync(join(scratch, 'refused')), false);
});

test('unknown keys are listed in one warning; LLaMA-Factory keys that do nothing here are not unknown', async () => {
  const file = join(root, 'train_lora/llama3_lora_sft.yaml');
  const r = await retune(['train', file, model, data, `output_dir=${join(scratch, 'unknown')}`, 'lora_rnak=4',
    'galore_rank=64', 'my_flag=true', '--dry-run']);
  assert.equal(r.code, 0, explain(r));
  const lines = r.stderr.split('\n').filter((line) => line !== '');
  assert.deepEqual(lines, [
    `retune: warning: ${file}: unknown keys ignored: lora_rnak (did you mean lora_rank?), my_flag`,
    noticeLine(['trust_remote_code', 'galore_rank']),
  ]);
});

test('--key value reaches LLaMA-Factory keys outside the schema, as HfArgumentParser takes them', async () => {
  const file = join(root, 'train_lora/llama3_lora_sft.yaml');
  const r = await retune(['train', file, model, data, '--use_badam', 'true', '--dry-run']);
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /^retune: error: override use_badam=true: use_badam: the BAdam optimizer is not supported yet/);
});

test('an example-trained adapter is merged by the merge_lora examples, chatted with by the inference ones and scored by the predict one', async () => {
  const adapter = join(scratch, 'sft');
  const sft = join(root, 'train_lora/llama3_lora_sft.yaml');
  const trained = await retune(['train', sft, model, data, `output_dir=${adapter}`]);
  assert.equal(trained.code, 0, explain(trained));
  assert.ok(existsSync(join(adapter, 'adapter_model.safetensors')));

  const merged = join(scratch, 'merged');
  const exported = await retune(['export', join(root, 'merge_lora/llama3_lora_sft.yaml'), model,
    `adapter_name_or_path=${adapter}`, `export_dir=${merged}`]);
  assert.equal(exported.code, 0, explain(exported));
  assert.equal(exported.stderr, `${noticeLine(['trust_remote_code'])}\n`);
  assert.match(exported.stdout, /with 1 adapter merged to .* \(F32\): config\.json, .*model\.safetensors/);
  const qwenMerged = await retune(['export', join(root, 'merge_lora/qwen3_lora_sft.yaml'), model,
    `adapter_name_or_path=${adapter}`, `export_dir=${join(scratch, 'qwen-merged')}`]);
  assert.equal(qwenMerged.code, 0, explain(qwenMerged));
  const full = await retune(['export', join(root, 'merge_lora/qwen3_full_sft.yaml'), `model_name_or_path=${merged}`,
    `export_dir=${join(scratch, 'full')}`]);
  assert.equal(full.code, 0, explain(full));
  assert.ok(existsSync(join(scratch, 'full', 'model.safetensors')));

  const prompt = ['--prompt', 'Who are you?'];
  const withAdapter = await retune(['chat', join(root, 'inference/llama3_lora_sft.yaml'), model,
    `adapter_name_or_path=${adapter}`, ...prompt]);
  assert.equal(withAdapter.code, 0, explain(withAdapter));
  assert.equal(withAdapter.stderr, `${noticeLine(['trust_remote_code'])}\n`);
  assert.ok(withAdapter.stdout.trim().length > 0);
  const fromExport = await retune(['chat', join(root, 'inference/llama3.yaml'), `model_name_or_path=${merged}`, ...prompt]);
  assert.equal(fromExport.code, 0, explain(fromExport));
  assert.equal(fromExport.stdout, withAdapter.stdout);

  const predicted = join(scratch, 'predict');
  const predict = await retune(['train', join(root, 'train_lora/llama3_lora_predict.yaml'), model, data,
    `adapter_name_or_path=${adapter}`, `output_dir=${predicted}`, 'max_samples=2', 'max_new_tokens=8']);
  assert.equal(predict.code, 0, explain(predict));
  assert.equal(readFileSync(join(predicted, 'generated_predictions.jsonl'), 'utf8').trim().split('\n').length, 4);
  assert.ok('predict_rouge-l' in JSON.parse(readFileSync(join(predicted, 'predict_results.json'), 'utf8')));
});

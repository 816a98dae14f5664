import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from './run-cli.js';

// A LLaMA-Factory config on the trainer's tiny fixture, with a typo, GPU-only keys and both warmup forms.
function writeConfig(dir: string): string {
  const path = join(dir, 'cfg.yaml');
  writeFileSync(path, [
    'model_name_or_path: test/fixtures/train/model',
    'trust_remote_code: true',
    'stage: sft',
    'do_train: true',
    'lora_rank: 4',
    'lora_target: q_proj,v_proj',
    'dataset_dir: test/fixtures/train/data',
    'dataset: animals',
    'template: chatml',
    'cutoff_len: 48',
    `output_dir: ${join(dir, 'out')}`,
    'per_device_train_batch_size: 2',
    'learning_rate: 1.0e-2',
    'lerning_rate: 1.0e-3',
    'num_train_epochs: 1',
    'warmup_ratio: 0.1',
    'warmup_steps: 2',
    'flash_attn: fa2',
    'report_to: none',
    'ddp_timeout: 180000000',
    'deepspeed: ds_z3_config.json',
    '',
  ].join('\n'));
  return path;
}

test('train --dry-run names ignored and ineffective keys once, echoes the resolved config, writes nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'retune-notices-'));
  try {
    const cfg = writeConfig(dir);
    const result = runCli(['train', cfg, 'lora_dropout=0.05', '--dry-run'], { env: { RETUNE_BACKEND: 'reference' } });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stderr.trimEnd().split('\n'), [
      `retune: warning: ${cfg}: unknown keys ignored: lerning_rate (did you mean learning_rate?)`,
      // report_to: none and the default ddp_timeout ask for nothing, so they are not named.
      'retune: notice: accepted but no effect on this engine: trust_remote_code, flash_attn, deepspeed',
      'retune: notice: warmup_steps (2) overrides warmup_ratio (0.1), as in HF',
    ]);
    const echoed = result.stdout.split('\n');
    assert.equal(echoed[0], `Resolved config (${cfg}; keys that differ from the defaults):`);
    for (const line of ['  learning_rate: 0.01', '  lora_rank: 4', '  lora_alpha: 8', '  lora_dropout: 0.05', '  warmup_steps: 2']) {
      assert.ok(echoed.includes(line), line);
    }
    assert.ok(!echoed.includes('  lerning_rate: 0.001'));
    assert.ok(!existsSync(join(dir, 'out')), 'a dry run creates no output_dir');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

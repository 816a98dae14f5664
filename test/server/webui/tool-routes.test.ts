// Export over HTTP: export runs `retune export` as a child process on the Board's config and reports the folder it
// wrote; its refusals come back as 4xx with the CLI's message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, quickstartConfig, quickstartRoot, startBoard, trainToEnd } from './board-helpers.js';

const root = quickstartRoot();
const board = await startBoard(root);
test.after(() => board.close());

test('export merges a Board-trained adapter into the model and lists the files; a second export is refused', async () => {
  await trainToEnd(board, quickstartConfig({ output_dir: 'saves/x', max_steps: 4 }));

  const config = {
    model_name_or_path: 'models/tiny-stories', adapter_name_or_path: 'saves/x', template: 'chatml', finetuning_type: 'lora',
    export_dir: 'saves/merged',
  };
  const r = await call(board, 'POST', '/api/export', { config });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.dir, 'saves/merged');
  assert.ok(r.body.files.includes('model.safetensors') && r.body.files.includes('config.json'), r.body.files.join(','));
  assert.match(r.body.output, /^Exported models\/tiny-stories with 1 adapter merged to saves\/merged/);
  const written = readFileSync(join(root, 'saves/merged/model.safetensors'));

  const again = await call(board, 'POST', '/api/export', { config });
  assert.equal(again.status, 400);
  assert.match(again.body.error, /export_dir/);
  assert.ok(readFileSync(join(root, 'saves/merged/model.safetensors')).equals(written));

  const outside = await call(board, 'POST', '/api/export', { config: { ...config, export_dir: '../merged' } });
  assert.equal(outside.status, 403);
  assert.equal(existsSync(join(root, '../merged')), false);
});

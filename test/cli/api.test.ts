// `retune api` serving a `retune export` output answers as transformers does: the same export (the chat fixture model
// with its adapter merged, chatml handed on as the exported chat_template) run through transformers' greedy
// `generate` with that chat_template gave test/fixtures/api/export-golden.json (make_export_golden.py).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type OpenAI from 'openai';
import { runCli } from './run-cli.js';
import { serveApi } from './serve-api.js';

interface GoldenReply {
  messages: OpenAI.ChatCompletionMessageParam[];
  prompt_tokens: number;
  ids: number[];
  text: string;
  finish_reason: 'stop' | 'length';
}
const golden = JSON.parse(readFileSync('test/fixtures/api/export-golden.json', 'utf8')) as { max_new_tokens: number; replies: GoldenReply[] };

test('greedy replies of retune api on an exported model equal transformers\' generate with its chat_template', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'retune-api-export-'));
  try {
    const exportDir = join(dir, 'export');
    const exported = runCli(['export', 'test/fixtures/api/export.yaml', `export_dir=${exportDir}`]);
    assert.equal(exported.code, 0, exported.stderr);
    // No template key: the server prompts with the chat_template the export wrote, as transformers did.
    const api = await serveApi([`model_name_or_path=${exportDir}`], { env: { API_MODEL_NAME: 'exported' } });
    try {
      for (const want of golden.replies) {
        const r = await api.client.chat.completions.create({
          model: 'exported', messages: want.messages, temperature: 0, max_tokens: golden.max_new_tokens,
        });
        assert.equal(r.model, 'exported');
        assert.equal(r.choices[0].message.content, want.text);
        assert.equal(r.choices[0].finish_reason, want.finish_reason);
        assert.deepEqual(r.usage, {
          prompt_tokens: want.prompt_tokens, completion_tokens: want.ids.length, total_tokens: want.prompt_tokens + want.ids.length,
        });
      }
    } finally {
      assert.equal(await api.stop(), 0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadTokenizer } from '../../src/data/index.js';
import { TextStream } from '../../src/infer/text-stream.js';

const MODEL = 'examples/models/tiny-stories';

test('streamed pieces add up to the decoded text', async () => {
  const tokenizer = await loadTokenizer(MODEL);
  const ids = tokenizer.encode('Once upon a time, a little cat sat in the sun.', { addSpecialTokens: false });
  const stream = new TextStream(tokenizer, true);
  const pieces = ids.map((id) => stream.push(id));
  pieces.push(stream.finish());
  assert.equal(pieces.join(''), tokenizer.decode(ids, { skipSpecialTokens: true }));
  assert.ok(pieces.filter((p) => p !== '').length > 3, 'text came out as it grew');
  assert.equal(stream.stopped, false);
});

test('pieces decoded a few tokens at a time add up to the full decode: multi-byte characters, spaces, long replies', async () => {
  const text = '你好，世界！ Tokens 🙂 split   inside characters, café and naïve.\n'.repeat(12);
  for (const dir of [MODEL, 'test/fixtures/train/model']) {
    const tokenizer = await loadTokenizer(dir);
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    const stream = new TextStream(tokenizer, true);
    const pieces = ids.map((id) => stream.push(id));
    pieces.push(stream.finish());
    const full = tokenizer.decode(ids, { skipSpecialTokens: true });
    assert.equal(pieces.join(''), full, dir);
    assert.equal(stream.text, full, dir);
    assert.ok(pieces.every((p) => !p.includes('\uFFFD')) || full.includes('\uFFFD'), `${dir}: a piece ended inside a character`);
  }
});

test('a stop string ends the text before it, and a possible start of one is held back', async () => {
  const tokenizer = await loadTokenizer(MODEL);
  const text = 'Once upon a time, a little cat sat in the sun.';
  const ids = tokenizer.encode(text, { addSpecialTokens: false });
  const decoded = tokenizer.decode(ids, { skipSpecialTokens: true });
  const stream = new TextStream(tokenizer, true, ['cat sat', 'zebra']);
  let shown = '';
  for (const id of ids) {
    shown += stream.push(id);
    assert.ok(!shown.includes('cat'), `shown text ${JSON.stringify(shown)} reached into the stop string`);
    if (stream.stopped) break;
  }
  shown += stream.finish();
  assert.equal(stream.stopped, true);
  assert.equal(shown, decoded.slice(0, decoded.indexOf('cat sat')));
  assert.equal(stream.text, shown);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/util/errors.js';
import { TOOL_FORMATS, pyJson } from '../../src/data/tools.js';
import { golden } from './helpers.js';

const TOOL = { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } };

test('pyJson writes what Python json.dumps(ensure_ascii=False) writes, with and without indent', () => {
  for (const { value, plain, indent4 } of golden().pyjson) {
    assert.equal(pyJson(value), plain);
    assert.equal(pyJson(value, 4), indent4);
  }
});

test('qwen, mistral and glm4 formats wrap tools and calls as LLaMA-Factory does', () => {
  const call = [{ name: 'get_weather', arguments: '{"city": "Rome"}' }];
  assert.ok(TOOL_FORMATS.qwen.tools([TOOL]).includes('<tools>\n{"type": "function", "function": {"name": "get_weather"'));
  assert.equal(TOOL_FORMATS.qwen.functions(call), '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>');
  assert.equal(TOOL_FORMATS.mistral.tools([TOOL]), '[AVAILABLE_TOOLS] [{"type": "function", "function": ' + pyJson(TOOL) + '}][/AVAILABLE_TOOLS]');
  assert.equal(TOOL_FORMATS.mistral.functions(call), '[{"name": "get_weather", "arguments": {"city": "Rome"}}]');
  assert.equal(TOOL_FORMATS.glm4.functions(call), 'get_weather\n{"city": "Rome"}');
  assert.ok(TOOL_FORMATS.glm4.tools([TOOL]).endsWith(`## get_weather\n\n${pyJson(TOOL, 4)}\n在调用上述函数时，请使用 Json 格式表示调用的参数。`));
  assert.throws(() => TOOL_FORMATS.glm4.functions([...call, ...call]), UsageError);
  assert.equal(TOOL_FORMATS.llama3.functions(call), '{"name": "get_weather", "parameters": {"city": "Rome"}}');
  assert.match(TOOL_FORMATS.llama3.tools([TOOL]), /^Cutting Knowledge Date: December 2023\nToday Date: \d\d [A-Z][a-z]{2} \d{4}\n\n/);
});

test('extract reads back the calls every format writes, and leaves plain text alone', () => {
  const one = [{ name: 'get_weather', arguments: pyJson({ city: '北京', days: 2, detail: { unit: 'c' } }) }];
  const two = [...one, { name: 'get_time', arguments: pyJson({ zone: 'UTC' }) }];
  for (const [name, format] of Object.entries(TOOL_FORMATS)) {
    assert.deepEqual(format.extract(format.functions(one)), one, `${name}: one call`);
    if (name !== 'glm4') assert.deepEqual(format.extract(format.functions(two)), two, `${name}: two calls`);
    assert.equal(format.extract('Once upon a time, a fox.'), null, `${name}: plain text`);
  }
  // Broken JSON is not a call (LLaMA-Factory returns the text then).
  assert.equal(TOOL_FORMATS.default.extract('Action: f\nAction Input: {"a": '), null);
  assert.equal(TOOL_FORMATS.qwen.extract('<tool_call>\n{"name": "f"}\n</tool_call>'), null);
  assert.deepEqual(TOOL_FORMATS.default.extract('Action: f\nAction Input: ```{"a": 1}```'), [{ name: 'f', arguments: '{"a": 1}' }]);
});

// Tool (function-calling) text, as LLaMA-Factory writes it: the tool list appended to the system message,
// assistant function-call turns re-rendered from JSON, and calls read back out of a generated reply. Each tool format is one entry of TOOL_FORMATS.
// JSON is written the way Python's json.dumps(ensure_ascii=False) writes it, because that text is what models were
// fine-tuned on and what LLaMA-Factory produces.

import { UsageError } from '../util/errors.js';

export interface FunctionCall {
  name: string;
  arguments: string; // JSON text of the arguments object
}

export interface ToolFormat {
  // System-message suffix describing the tools.
  tools(tools: Record<string, unknown>[]): string;
  // The assistant text for one or more calls.
  functions(calls: FunctionCall[]): string;
  // The calls a generated reply makes, or null when it is plain text (the inverse of `functions`).
  extract(text: string): FunctionCall[] | null;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

// JSON objects {name, <argsKey>} (one or a list) -> calls, or null when the text is not exactly that.
function extractJsonCalls(text: string, argsKey: string): FunctionCall[] | null {
  const parsed = parseJson(text.trim());
  if (!parsed.ok || parsed.value === null || typeof parsed.value !== 'object') return null;
  const list = Array.isArray(parsed.value) ? parsed.value : [parsed.value];
  const calls: FunctionCall[] = [];
  for (const item of list as Record<string, unknown>[]) {
    if (item === null || typeof item !== 'object' || typeof item.name !== 'string' || !(argsKey in item)) return null;
    calls.push({ name: item.name, arguments: pyJson(item[argsKey]) });
  }
  return calls.length > 0 ? calls : null;
}

// Python's json.dumps(value, ensure_ascii=False): ", " and ": " separators, or with indent the "," / ": " pair.
export function pyJson(value: unknown, indent?: number, depth = 0): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : value > 0 ? 'Infinity' : value < 0 ? '-Infinity' : 'NaN';
  if (typeof value === 'string') return JSON.stringify(value);
  const pad = indent === undefined ? '' : '\n' + ' '.repeat(indent * (depth + 1));
  const end = indent === undefined ? '' : '\n' + ' '.repeat(indent * depth);
  const sep = indent === undefined ? ', ' : ',';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return '[' + value.map((v) => pad + pyJson(v, indent, depth + 1)).join(sep) + end + ']';
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return '{}';
  return '{' + entries.map(([k, v]) => pad + JSON.stringify(k) + ': ' + pyJson(v, indent, depth + 1)).join(sep) + end + '}';
}

function unwrapFunction(tool: Record<string, unknown>): Record<string, unknown> {
  return tool.type === 'function' ? ((tool.function ?? {}) as Record<string, unknown>) : tool;
}

function wrapFunction(tool: Record<string, unknown>): Record<string, unknown> {
  return tool.type === 'function' ? tool : { type: 'function', function: tool };
}

const DEFAULT_TOOL_PROMPT_HEAD = 'You have access to the following tools:\n';
const DEFAULT_TOOL_PROMPT_TAIL = (names: string): string =>
  'Use the following format if using a tool:\n```\n' +
  `Action: tool name (one of [${names}])\n` +
  'Action Input: the input to the tool, in a JSON format representing the kwargs ' +
  '(e.g. ```{"input": "hello world", "num_beams": 5}```)\n```\n';

const defaultFormat: ToolFormat = {
  tools(tools) {
    let text = '';
    const names: string[] = [];
    for (const raw of tools) {
      const tool = unwrapFunction(raw);
      const parameters = (tool.parameters ?? {}) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
      let params = '';
      for (const [name, param] of Object.entries(parameters.properties ?? {})) {
        const required = (parameters.required ?? []).includes(name) ? ', required' : '';
        const enumText = Array.isArray(param.enum) && param.enum.length > 0 ? `, should be one of [${param.enum.join(', ')}]` : '';
        const items = param.items ? `, where each item should be ${(param.items as { type?: string }).type ?? ''}` : '';
        params += `  - ${name} (${param.type ?? ''}${required}): ${param.description ?? ''}${enumText}${items}\n`;
      }
      text += `> Tool Name: ${tool.name}\nTool Description: ${tool.description ?? ''}\nTool Args:\n${params}\n`;
      names.push(String(tool.name));
    }
    return DEFAULT_TOOL_PROMPT_HEAD + text + DEFAULT_TOOL_PROMPT_TAIL(names.join(', '));
  },
  functions(calls) {
    return calls.map((c) => `Action: ${c.name}\nAction Input: ${c.arguments}`).join('\n');
  },
  extract(text) {
    const pattern = /Action:\s*([a-zA-Z0-9_]+)\s*Action Input:\s*([\s\S]+?)(?=\s*Action:|\s*$)/g;
    const calls: FunctionCall[] = [];
    for (const match of text.matchAll(pattern)) {
      const input = match[2].trim().replace(/^"+|"+$/g, '').replace(/^`+|`+$/g, '');
      const parsed = parseJson(input);
      if (!parsed.ok) return null;
      calls.push({ name: match[1].trim(), arguments: pyJson(parsed.value) });
    }
    return calls.length > 0 ? calls : null;
  },
};

const QWEN_TOOL_PROMPT = (toolText: string): string =>
  '\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n' +
  `You are provided with function signatures within <tools></tools> XML tags:\n<tools>${toolText}` +
  '\n</tools>\n\nFor each function call, return a json object with function name and arguments within ' +
  '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>';

const qwenFormat: ToolFormat = {
  tools(tools) {
    return QWEN_TOOL_PROMPT(tools.map((t) => '\n' + pyJson(wrapFunction(t))).join(''));
  },
  functions(calls) {
    return calls
      .map((c) => `<tool_call>\n${pyJson({ name: c.name, arguments: JSON.parse(c.arguments) })}\n</tool_call>`)
      .join('\n');
  },
  extract(text) {
    const calls: FunctionCall[] = [];
    for (const match of text.matchAll(/<tool_call>([\s\S]+?)<\/tool_call>(?=\s*<tool_call>|\s*$)/g)) {
      const one = extractJsonCalls(match[1], 'arguments');
      if (one === null || one.length !== 1) return null;
      calls.push(one[0]);
    }
    return calls.length > 0 ? calls : null;
  },
};

// LLaMA-Factory stamps today's date into the Llama 3 tool prompt; the same date format ("%d %b %Y") is used here.
function todayText(): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const d = new Date();
  return `${String(d.getDate()).padStart(2, '0')} ${months[d.getMonth()]} ${d.getFullYear()}`;
}

const llama3Format: ToolFormat = {
  tools(tools) {
    const toolText = tools.map((t) => pyJson(wrapFunction(t), 4) + '\n\n').join('');
    return (
      `Cutting Knowledge Date: December 2023\nToday Date: ${todayText()}\n\n` +
      'You have access to the following functions. To call a function, please respond with JSON for a function call. ' +
      'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}. ' +
      `Do not use variables.\n\n${toolText}`
    );
  },
  functions(calls) {
    const objects = calls.map((c) => ({ name: c.name, parameters: JSON.parse(c.arguments) as unknown }));
    return pyJson(objects.length === 1 ? objects[0] : objects);
  },
  extract: (text) => extractJsonCalls(text, 'parameters'),
};

const mistralFormat: ToolFormat = {
  tools(tools) {
    return '[AVAILABLE_TOOLS] ' + pyJson(tools.map(wrapFunction)) + '[/AVAILABLE_TOOLS]';
  },
  functions(calls) {
    return pyJson(calls.map((c) => ({ name: c.name, arguments: JSON.parse(c.arguments) as unknown })));
  },
  extract: (text) => extractJsonCalls(text, 'arguments'),
};

const GLM4_TOOL_PROMPT =
  '你是一个名为 ChatGLM 的人工智能助手。你是基于智谱 AI 公司训练的语言模型 GLM-4 模型开发的，' +
  '你的任务是针对用户的问题和要求提供适当的答复和支持。\n\n# 可用工具';

const glm4Format: ToolFormat = {
  tools(tools) {
    const toolText = tools
      .map(unwrapFunction)
      .map((t) => `\n\n## ${t.name}\n\n${pyJson(t, 4)}\n在调用上述函数时，请使用 Json 格式表示调用的参数。`)
      .join('');
    return GLM4_TOOL_PROMPT + toolText;
  },
  functions(calls) {
    if (calls.length > 1) throw new UsageError('tool_format glm4 does not support parallel function calls');
    return `${calls[0].name}\n${calls[0].arguments}`;
  },
  extract(text) {
    const newline = text.indexOf('\n');
    if (newline < 0) return null;
    const parsed = parseJson(text.slice(newline + 1).trim());
    return parsed.ok ? [{ name: text.slice(0, newline), arguments: pyJson(parsed.value) }] : null;
  },
};

export const TOOL_FORMATS: Record<string, ToolFormat> = {
  default: defaultFormat,
  glm4: glm4Format,
  qwen: qwenFormat,
  llama3: llama3Format,
  mistral: mistralFormat,
};

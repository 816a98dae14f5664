// Which template a run uses, LLaMA-Factory's get_template_and_fix_tokenizer: the named one from the registry, or,
// when no template is configured, one read off the tokenizer's own jinja chat_template (else `empty`).

import type { RetuneConfig } from '../config/schema.js';
import { UsageError } from '../util/errors.js';
import { Template, applyOptions, getTemplate } from './template.js';
import type { Tokenizer } from './tokenizer.js';

export type TemplateArgs = Pick<RetuneConfig,
  'template' | 'train_on_prompt' | 'default_system' | 'tool_format' | 'enable_thinking' | 'preserve_thinking'>;

export function resolveTemplate(args: TemplateArgs, tokenizer: Tokenizer): Template {
  let template: Template;
  if (args.template) template = getTemplate(args.template);
  else if (tokenizer.chatTemplate !== null) template = parseTemplate(tokenizer);
  else template = getTemplate('empty');
  if (args.train_on_prompt && template.efficientEos) {
    throw new UsageError(`train_on_prompt: template ${template.name} uses efficient EOS and does not support train_on_prompt`);
  }
  applyOptions(template, {
    defaultSystem: args.default_system,
    toolFormat: args.tool_format,
    enableThinking: args.enable_thinking,
    preserveThinking: args.preserve_thinking,
  });
  template.fixTokenizer(tokenizer);
  return template;
}

// LLaMA-Factory's parse_template: render probe conversations through the chat_template with "{{content}}" as the
// text, then cut the output into prefix / system / user / assistant slots.
export function parseTemplate(tokenizer: Tokenizer): Template {
  const render = (messages: { role: string; content: string }[], addGenerationPrompt: boolean): string =>
    tokenizer.applyChatTemplate(messages, { addGenerationPrompt });
  const prefix = tokenizer.decode(tokenizer.encode(''));
  const C = '{{content}}';
  const systemSlot = render([{ role: 'system', content: C }], false).slice(prefix.length);
  const userSlotEmptySystem = render([{ role: 'system', content: '' }, { role: 'user', content: C }], true).slice(prefix.length);
  let userSlot = render([{ role: 'user', content: C }], true).slice(prefix.length);
  let assistantSlot = render([{ role: 'user', content: C }, { role: 'assistant', content: C }], false).slice(prefix.length + userSlot.length);
  const reasoning = assistantSlot.includes('<think>');
  assistantSlot = assistantSlot.replaceAll('<think>', '').replaceAll('</think>', '').replace(/^\n+/, '');
  let defaultSystem = '';
  // A template that injects a default system prompt renders a longer user turn when no system message is given.
  if (userSlot.length > userSlotEmptySystem.length) {
    defaultSystem = findDiff(userSlotEmptySystem, userSlot);
    const soleSystem = systemSlot.replace(C, () => defaultSystem);
    userSlot = userSlot.slice(soleSystem.length);
  }
  return new Template('tokenizer', {
    user: [userSlot],
    assistant: [assistantSlot],
    system: [systemSlot],
    function: [assistantSlot],
    observation: [userSlot],
    prefix: prefix ? [prefix] : [],
    defaultSystem,
    kind: reasoning ? 'reasoning' : 'plain',
  });
}

// The characters of `long` that are not matched, in order, by `short`.
function findDiff(short: string, long: string): string {
  let i = 0;
  let j = 0;
  let diff = '';
  while (i < short.length && j < long.length) {
    if (short[i] === long[j]) {
      i++;
      j++;
    } else {
      diff += long[j];
      j++;
    }
  }
  return diff;
}

// A run's template written as a Hugging Face Jinja chat_template, so that an exported model formats conversations
// the way it was trained (LLaMA-Factory's Template._get_jinja_template, which its export stores in
// tokenizer_config.json). The Jinja reads `messages` with roles system / user / assistant:
// - an optional leading system message replaces the default system; without one the default system (if any) is used.
//   An explicit empty system message still renders the system slot (Template would fall back to the default): that
//   is how LLaMA-Factory's parse_template finds a default system again when the exported model is trained on;
// - the user slot of every registry template already ends with the assistant header, so, as in LLaMA-Factory,
//   `add_generation_prompt` changes nothing: a conversation ending in a user turn is already a generation prompt;
// - kind `llama2` fuses the system text into the first user turn; kind `reasoning` renders as `plain`, as in
//   LLaMA-Factory (ReasoningTemplate has no Jinja of its own): the empty thought the Template adds to an answer
//   without one, and the thoughts it strips from history answers at inference, are not reproduced;
// - tool lists, function calls and observations need the tool format's own rendering, which has no Jinja form:
//   those roles render nothing (LLaMA-Factory's Jinja skips them too).
// BOS/EOS slots become the tokenizer's token text (left out when the tokenizer has none, as Template.encode does),
// and {token: name} slots the text of that token. The result is null where a template cannot be written this way.

import { UsageError } from '../util/errors.js';
import type { Slot } from './template-table.js';
import type { Template } from './template.js';
import type { Tokenizer } from './tokenizer.js';

export function templateToJinja(template: Template, tokenizer: Tokenizer): string | null {
  // Template.encode fuses only the first system slot into a llama2 user turn, and only when it is text.
  const llama2System = template.kind === 'llama2' ? template.system[0] : undefined;
  if (template.kind === 'llama2' && typeof llama2System !== 'string') return null;

  const convert = (slots: Slot[], placeholders: Record<string, string>): string =>
    slotsToJinja(slots, placeholders, tokenizer, template.name);
  const prefix = convert(template.prefix, {});
  // An empty expression would leave `{{ }}` or a dangling `+`; the empty string literal stands in for it.
  const system = convert(template.kind === 'llama2' ? [llama2System as string] : template.system, { content: 'system_message' }) || "''";
  // Template.encode fills {{idx}} (the turn number) in user slots only, and not for llama2 templates.
  const userPlaceholders: Record<string, string> = template.kind === 'llama2'
    ? { content: 'content' }
    : { content: 'content', idx: '((loop.index0 // 2) | string)' };
  const user = convert(template.user, userPlaceholders);
  const assistant = convert(template.assistant, { content: 'content' });

  let jinja = '';
  if (prefix) jinja += `{{ ${prefix} }}`;
  if (template.defaultSystem) jinja += `{% set system_message = ${quote(template.defaultSystem)} %}`;
  jinja +=
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}" +
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% endif %}";
  if (template.kind !== 'llama2') jinja += `{% if system_message is defined %}{{ ${system} }}{% endif %}`;
  jinja += "{% for message in loop_messages %}{% set content = message['content'] %}";
  if (template.kind === 'llama2') {
    jinja += `{% if loop.index0 == 0 and system_message is defined %}{% set content = ${system} + message['content'] %}{% endif %}`;
  }
  jinja += "{% if message['role'] == 'user' %}";
  if (user) jinja += `{{ ${user} }}`;
  jinja += "{% elif message['role'] == 'assistant' %}";
  if (assistant) jinja += `{{ ${assistant} }}`;
  jinja += '{% endif %}{% endfor %}';
  return jinja;
}

// One Jinja expression concatenating the slots. Like Template's fill, each placeholder stands for its first
// occurrence in a text slot only; a repeated one stays literal text.
function slotsToJinja(slots: Slot[], placeholders: Record<string, string>, tokenizer: Tokenizer, templateName: string): string {
  const items: string[] = [];
  for (const slot of slots) {
    if (typeof slot === 'string') {
      const hits = Object.keys(placeholders)
        .map((name) => ({ name, at: slot.indexOf(`{{${name}}}`) }))
        .filter((hit) => hit.at >= 0)
        .sort((a, b) => a.at - b.at);
      let from = 0;
      for (const { name, at } of hits) {
        if (at > from) items.push(quote(slot.slice(from, at)));
        items.push(placeholders[name]);
        from = at + name.length + 4;
      }
      if (from < slot.length) items.push(quote(slot.slice(from)));
    } else if ('special' in slot) {
      // The token text, not {{ eos_token }}: the run may have replaced EOS (replace_eos) in a way the exported
      // tokenizer_config.json does not record.
      const text = slot.special === 'bos' ? tokenizer.bosToken : tokenizer.eosToken;
      const id = slot.special === 'bos' ? tokenizer.bosId : tokenizer.eosId;
      if (id !== null && text !== null) items.push(quote(text));
    } else {
      const id = tokenizer.tokenToId(slot.token);
      if (id === undefined) throw new UsageError(`template ${templateName} needs the token ${slot.token}, which the tokenizer lacks`);
      items.push(quote(tokenizer.decode([id], { skipSpecialTokens: false })));
    }
  }
  return items.join(' + ');
}

// A single-quoted Jinja string literal; both Python's Jinja and @huggingface/jinja read these escapes.
function quote(text: string): string {
  const escaped = text
    .replace(/\\/g, '\\\\')
    .replace(/'/g, "\\'")
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t');
  return `'${escaped}'`;
}

// Raw rows -> one standard example shape, LLaMA-Factory's aligner: alpaca (instruction / input / output / history)
// and sharegpt (a list of role-tagged messages, OpenAI's role/content through tags). Broken data is a UsageError
// naming the file, row and field. A row whose answer is null is returned as null: LLaMA-Factory drops it inside its
// preprocessing batch, so the caller keeps its place until the batches are formed. An empty answer is a real one
// (the model learns to stop at once). KTO drops nothing: an empty or null answer makes the row undesired, as
// LLaMA-Factory reads the tag off the answer.

import { UsageError } from '../util/errors.js';
import type { DatasetAttr } from './dataset-info.js';
import { rowWhere, type RawRow } from './readers.js';
import { pyJson } from './tools.js';
import type { Message, Role } from './template.js';

export type DataStage = 'pt' | 'sft' | 'rm' | 'dpo' | 'kto';

export interface Example {
  prompt: Message[]; // odd length: user, assistant, ..., user
  response: Message[]; // one answer; two (chosen, rejected) for rm/dpo
  system: string;
  tools: string; // JSON text of the tool list, or ''
  ktoTag: boolean | null;
  where: string; // file and row, for messages
}

export function convertRow(row: RawRow, attr: DatasetAttr, stage: DataStage): Example | null {
  return attr.formatting === 'alpaca' ? convertAlpaca(row, attr, stage) : convertSharegpt(row, attr, stage);
}

function fail(row: RawRow, field: string, problem: string): never {
  throw new UsageError(`${rowWhere(row)}: field "${field}": ${problem}`);
}

// A configured column that every row of this stage must have.
function required(row: RawRow, column: string | null, what: string): unknown {
  if (column === null) throw new UsageError(`${rowWhere(row)}: the dataset entry names no ${what} column`);
  if (!(column in row.data)) fail(row, column, `missing (the ${what} column)`);
  return row.data[column];
}

function optionalText(row: RawRow, column: string | null): string {
  if (column === null) return '';
  const value = row.data[column];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') fail(row, column, `expected a string, got ${typeof value}`);
  return value;
}

function text(row: RawRow, value: unknown, field: string): string {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'string') fail(row, field, `expected a string, got ${Array.isArray(value) ? 'an array' : typeof value}`);
  return value;
}

function toolsText(row: RawRow, column: string | null): string {
  if (column === null) return '';
  const value = row.data[column];
  if (value === undefined || value === null || value === '') return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return pyJson(value);
  fail(row, column, 'expected the tool list as JSON text or a list');
}

function ktoTag(row: RawRow, attr: DatasetAttr, stage: DataStage, answer: string): boolean | null {
  if (stage !== 'kto') return null;
  const value = required(row, attr.ktoTag, 'kto_tag');
  if (typeof value !== 'boolean') fail(row, attr.ktoTag as string, `expected true or false, got ${JSON.stringify(value)}`);
  return value && answer !== '';
}

function convertAlpaca(row: RawRow, attr: DatasetAttr, stage: DataStage): Example | null {
  const prompt: Message[] = [];
  if (attr.history !== null && Array.isArray(row.data[attr.history])) {
    (row.data[attr.history] as unknown[]).forEach((pair, i) => {
      if (!Array.isArray(pair) || pair.length !== 2) fail(row, `${attr.history}[${i}]`, 'expected a [query, response] pair');
      prompt.push({ role: 'user', content: text(row, pair[0], `${attr.history}[${i}][0]`) });
      prompt.push({ role: 'assistant', content: text(row, pair[1], `${attr.history}[${i}][1]`) });
    });
  }
  const query: string[] = [];
  const instruction = attr.prompt === null ? '' : text(row, required(row, attr.prompt, 'prompt'), attr.prompt);
  if (instruction) query.push(instruction);
  const input = optionalText(row, attr.query);
  if (input) query.push(input);
  prompt.push({ role: 'user', content: query.join('\n') });

  const example = { prompt, system: optionalText(row, attr.system), tools: toolsText(row, attr.tools), where: rowWhere(row) };
  if (stage === 'pt') return { ...example, response: [], ktoTag: null };
  if (stage === 'rm' || stage === 'dpo') {
    if (!attr.ranking) throw new UsageError(`${rowWhere(row)}: stage ${stage} needs a ranking dataset ("ranking": true in dataset_info.json)`);
    const chosenValue = required(row, attr.chosen, 'chosen');
    const rejectedValue = required(row, attr.rejected, 'rejected');
    if (chosenValue === null || rejectedValue === null) return null;
    const chosen = text(row, chosenValue, attr.chosen as string);
    const rejected = text(row, rejectedValue, attr.rejected as string);
    const response: Message[] = [{ role: 'assistant', content: chosen }, { role: 'assistant', content: rejected }];
    return { ...example, response, ktoTag: null };
  }
  const answerValue = required(row, attr.response, 'response');
  if (answerValue === null && stage !== 'kto') return null;
  const answer = text(row, answerValue, attr.response as string);
  return { ...example, response: [{ role: 'assistant', content: answer }], ktoTag: ktoTag(row, attr, stage, answer) };
}

function convertSharegpt(row: RawRow, attr: DatasetAttr, stage: DataStage): Example {
  const column = attr.messages as string;
  const raw = required(row, column, 'messages');
  if (!Array.isArray(raw)) fail(row, column, 'expected a list of messages');
  if (raw.length === 0) fail(row, column, 'empty conversation');
  const roleTag = attr.roleTag as string;
  const contentTag = attr.contentTag as string;
  const roleOf = new Map<string, Role | 'system'>();
  if (attr.userTag !== null) roleOf.set(attr.userTag, 'user');
  if (attr.assistantTag !== null) roleOf.set(attr.assistantTag, 'assistant');
  if (attr.observationTag !== null) roleOf.set(attr.observationTag, 'observation');
  if (attr.functionTag !== null) roleOf.set(attr.functionTag, 'function');
  if (attr.systemTag !== null) roleOf.set(attr.systemTag, 'system');

  const readMessage = (value: unknown, field: string): { role: Role | 'system'; content: string } => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(row, field, 'expected a message object');
    const m = value as Record<string, unknown>;
    const tag = m[roleTag];
    if (typeof tag !== 'string') fail(row, `${field}.${roleTag}`, 'missing role tag');
    const role = roleOf.get(tag);
    if (role === undefined) fail(row, `${field}.${roleTag}`, `unknown role ${JSON.stringify(tag)} (known: ${[...roleOf.keys()].join(', ')})`);
    return { role, content: text(row, m[contentTag], `${field}.${contentTag}`) };
  };

  let messages = raw.map((m, i) => readMessage(m, `${column}[${i}]`));
  let system = optionalText(row, attr.system);
  if (messages[0].role === 'system') {
    system = messages[0].content;
    messages = messages.slice(1);
  }
  if (messages.length === 0) fail(row, column, 'empty conversation (only a system message)');
  // Odd turns are user/observation, even turns assistant/function.
  messages.forEach((m, i) => {
    const ok = i % 2 === 0 ? m.role === 'user' || m.role === 'observation' : m.role === 'assistant' || m.role === 'function';
    if (!ok) {
      const expected = i % 2 === 0 ? 'user or observation' : 'assistant or function';
      fail(row, `${column}[${i + (raw.length - messages.length)}].${roleTag}`, `roles out of order: turn ${i} is ${m.role}, expected ${expected}`);
    }
  });
  const aligned = messages as Message[];
  const example = { system, tools: toolsText(row, attr.tools), where: rowWhere(row) };
  if (stage === 'pt') return { ...example, prompt: aligned, response: [], ktoTag: null };
  if (stage === 'rm' || stage === 'dpo') {
    if (!attr.ranking) throw new UsageError(`${rowWhere(row)}: stage ${stage} needs a ranking dataset ("ranking": true in dataset_info.json)`);
    if (aligned.length % 2 !== 1) fail(row, column, 'a ranking conversation must end with a user turn');
    const chosen = readMessage(required(row, attr.chosen, 'chosen'), attr.chosen as string);
    const rejected = readMessage(required(row, attr.rejected, 'rejected'), attr.rejected as string);
    for (const [m, field] of [[chosen, attr.chosen], [rejected, attr.rejected]] as const) {
      if (m.role !== 'assistant' && m.role !== 'function') fail(row, `${field}.${roleTag}`, `expected an assistant message, got ${m.role}`);
    }
    return { ...example, prompt: aligned, response: [chosen as Message, rejected as Message], ktoTag: null };
  }
  if (aligned.length % 2 !== 0) fail(row, column, 'the conversation must end with an assistant turn');
  const last = aligned[aligned.length - 1];
  return { ...example, prompt: aligned.slice(0, -1), response: [last], ktoTag: ktoTag(row, attr, stage, last.content) };
}

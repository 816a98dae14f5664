// Trains the quickstart model's byte-level BPE tokenizer (GPT-2 style) on the example texts and writes an HF
// tokenizer.json + tokenizer_config.json, so the shipped model needs no downloaded tokenizer:
//   node dist/scripts/make-tokenizer.js <out dir> <vocab size> <text or json files...>
// JSON files contribute every string value they hold (instructions, answers, conversations).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
// Chat templates put these words next to the special tokens; keep them whole tokens even if the texts lack them.
const TEMPLATE_WORDS = ['system', 'user', 'assistant', '\n', 'You are a helpful assistant.'];
const PRETOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

// GPT-2's reversible map from bytes to printable characters.
function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    map[b] = printable.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return map;
}

function collectStrings(value: unknown, out: string[]): void {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) collectStrings(item, out);
  else if (value && typeof value === 'object') for (const item of Object.values(value)) collectStrings(item, out);
}

function readTexts(files: string[]): string[] {
  const texts: string[] = [...TEMPLATE_WORDS, ...TEMPLATE_WORDS];
  for (const file of files) {
    const raw = readFileSync(file, 'utf8');
    if (file.endsWith('.json')) collectStrings(JSON.parse(raw), texts);
    else texts.push(...raw.split('\n'));
  }
  return texts;
}

function countWords(texts: string[], byteMap: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  const encoder = new TextEncoder();
  for (const text of texts) {
    for (const match of text.matchAll(PRETOKENIZE)) {
      const word = Array.from(encoder.encode(match[0]), (b) => byteMap[b]).join('');
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
  }
  return counts;
}

// Classic BPE: repeatedly merge the most frequent adjacent pair; ties break on the pair's text so runs are stable.
function trainMerges(counts: Map<string, number>, numMerges: number): [string, string][] {
  const words = [...counts.entries()].map(([word, count]) => ({ symbols: Array.from(word), count }));
  const merges: [string, string][] = [];
  for (let m = 0; m < numMerges; m++) {
    const pairCounts = new Map<string, number>();
    for (const { symbols, count } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = symbols[i] + '\u0000' + symbols[i + 1];
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + count);
      }
    }
    let best = '';
    let bestCount = 1;
    for (const [key, count] of pairCounts) {
      if (count > bestCount || (count === bestCount && best !== '' && key < best)) {
        best = key;
        bestCount = count;
      }
    }
    if (best === '') break;
    const [left, right] = best.split('\u0000');
    merges.push([left, right]);
    for (const word of words) {
      const merged: string[] = [];
      for (let i = 0; i < word.symbols.length; i++) {
        if (i + 1 < word.symbols.length && word.symbols[i] === left && word.symbols[i + 1] === right) {
          merged.push(left + right);
          i++;
        } else merged.push(word.symbols[i]);
      }
      word.symbols = merged;
    }
  }
  return merges;
}

function tokenizerJson(byteMap: string[], merges: [string, string][]): object {
  const vocab: Record<string, number> = {};
  let id = 0;
  for (const symbol of [...byteMap].sort()) vocab[symbol] = id++;
  for (const [left, right] of merges) vocab[left + right] = id++;
  const addedTokens = SPECIAL_TOKENS.map((content, i) => ({
    id: id + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  }));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: merges.map(([l, r]) => `${l} ${r}`),
    },
  };
}

function tokenizerConfig(addedTokens: { id: number; content: string }[]): object {
  return {
    add_bos_token: false,
    add_eos_token: false,
    bos_token: null,
    eos_token: '<|im_end|>',
    pad_token: '<|endoftext|>',
    model_max_length: 512,
    tokenizer_class: 'PreTrainedTokenizerFast',
    clean_up_tokenization_spaces: false,
    added_tokens_decoder: Object.fromEntries(
      addedTokens.map((t) => [String(t.id), { content: t.content, special: true, normalized: false }]),
    ),
  };
}

const [outDir, vocabSizeArg, ...files] = process.argv.slice(2);
if (!outDir || !vocabSizeArg || files.length === 0) {
  process.stderr.write('usage: make-tokenizer <out dir> <vocab size> <files...>\n');
  process.exit(2);
}
const byteMap = bytesToUnicode();
const numMerges = Number(vocabSizeArg) - 256 - SPECIAL_TOKENS.length;
const merges = trainMerges(countWords(readTexts(files), byteMap), numMerges);
const json = tokenizerJson(byteMap, merges) as { added_tokens: { id: number; content: string }[] };
const config = tokenizerConfig(json.added_tokens);
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'tokenizer.json'), JSON.stringify(json));
writeFileSync(join(outDir, 'tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');
process.stdout.write(`wrote ${outDir}/tokenizer.json: ${256 + merges.length + SPECIAL_TOKENS.length} tokens\n`);

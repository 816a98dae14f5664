// Raw rows from local data files: .json (an array, or JSON lines), .jsonl, .csv (with a header row), .txt (one
// sample per line, column "text"), .parquet, or a folder of such files read in name order. Every row keeps where it
// came from so later errors can name the file and row.

import { isUtf8 } from 'node:buffer';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { UsageError } from '../util/errors.js';

export type RawRecord = Record<string, unknown>;

export interface RawRow {
  data: RawRecord;
  file: string;
  // 1-based line for line formats and CSV; 0-based index for JSON arrays and parquet.
  line: number | null;
  index: number;
}

export function rowWhere(row: RawRow): string {
  return row.line !== null ? `${row.file}:${row.line}` : `${row.file} row ${row.index}`;
}

const EXTENSIONS = ['.json', '.jsonl', '.csv', '.txt', '.parquet'];

// The data files behind a dataset entry, sorted: one file, or every supported file of a folder.
export function dataFiles(path: string, what: string): string[] {
  if (!existsSync(path)) throw new UsageError(`${what}: file not found: ${path}`);
  if (!statSync(path).isDirectory()) {
    checkExtension(path, what);
    return [path];
  }
  const files = readdirSync(path)
    .filter((name) => !name.startsWith('.'))
    .sort()
    .map((name) => join(path, name))
    .filter((file) => statSync(file).isFile());
  if (files.length === 0) throw new UsageError(`${what}: folder ${path} holds no data files`);
  const kinds = new Set(files.map((f) => extname(f).toLowerCase()));
  for (const file of files) checkExtension(file, what);
  if (kinds.size > 1) throw new UsageError(`${what}: folder ${path} mixes file types (${[...kinds].join(', ')}); use one type per folder`);
  return files;
}

function checkExtension(file: string, what: string): void {
  const ext = extname(file).toLowerCase();
  if (!EXTENSIONS.includes(ext)) {
    throw new UsageError(`${what}: ${file}: unsupported file type "${ext || '(none)'}" (use ${EXTENSIONS.join(', ')})`);
  }
}

// `warn` hears once per file about bytes that are not UTF-8 (they read as U+FFFD, as Python's errors="replace").
export async function readRows(file: string, warn: (message: string) => void): Promise<RawRow[]> {
  const ext = extname(file).toLowerCase();
  if (ext === '.parquet') return readParquet(file);
  const text = readUtf8(file, warn);
  switch (ext) {
    case '.json':
      return readJson(file, text);
    case '.jsonl':
      return readJsonLines(file, text);
    case '.csv':
      return readCsv(file, text);
    case '.txt':
      return readText(file, text);
    default:
      throw new UsageError(`${file}: unsupported file type`);
  }
}

function readUtf8(file: string, warn: (message: string) => void): string {
  const bytes = readFileSync(file);
  if (isUtf8(bytes)) return bytes.toString('utf8');
  let bad = 0;
  let first = 0;
  let start = 0;
  for (let line = 1; start <= bytes.length; line++) {
    const end = bytes.indexOf(10, start);
    const stop = end === -1 ? bytes.length : end;
    if (!isUtf8(bytes.subarray(start, stop))) {
      bad++;
      if (first === 0) first = line;
    }
    start = stop + 1;
  }
  warn(`${file}:${first}: invalid UTF-8 (${bad} line${bad === 1 ? '' : 's'} in all); the bad bytes were replaced with U+FFFD`);
  return bytes.toString('utf8');
}

function readJson(file: string, text: string): RawRow[] {
  const trimmed = text.trimStart();
  // HF's json loader also takes JSON lines in a .json file; an array is recognised by its first character.
  if (!trimmed.startsWith('[')) return readJsonLines(file, text);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file}${jsonErrorLine(text, err as Error)}: malformed JSON (${(err as Error).message})`);
  }
  const rows = value as unknown[];
  return rows.map((data, index) => {
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
      throw new UsageError(`${file} row ${index}: expected a JSON object, got ${describe(data)}`);
    }
    return { data: data as RawRecord, file, line: null, index };
  });
}

function readJsonLines(file: string, text: string): RawRow[] {
  const rows: RawRow[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    let data: unknown;
    try {
      data = JSON.parse(line);
    } catch (err) {
      throw new UsageError(`${file}:${i + 1}: malformed JSON line (${(err as Error).message})`);
    }
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
      throw new UsageError(`${file}:${i + 1}: expected a JSON object, got ${describe(data)}`);
    }
    rows.push({ data: data as RawRecord, file, line: i + 1, index: rows.length });
  }
  return rows;
}

// JSON.parse reports a character position; turn it into ":line" for the message.
function jsonErrorLine(text: string, err: Error): string {
  const match = /position (\d+)/.exec(err.message);
  if (!match) return '';
  const pos = Number(match[1]);
  let line = 1;
  for (let i = 0; i < pos && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return `:${line}`;
}

// One row per line, blank lines included (each is an EOS of its own in pre-training), as datasets' text loader.
function readText(file: string, contents: string): RawRow[] {
  const lines = contents.split(/\r\n|\r|\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((line, i) => ({ data: { text: line }, file, line: i + 1, index: i }));
}

// RFC 4180: quoted fields may hold commas, quotes ("") and newlines. Every value is a string.
function readCsv(file: string, contents: string): RawRow[] {
  const text = contents.replace(/^\uFEFF/, '');
  const records: { fields: string[]; line: number }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
    } else if (ch === '"' && field === '') {
      quoted = true;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      fields.push(field);
      if (!(fields.length === 1 && fields[0] === '')) records.push({ fields, line: recordLine });
      fields = [];
      field = '';
      line++;
      recordLine = line;
    } else {
      field += ch;
    }
  }
  if (quoted) throw new UsageError(`${file}:${recordLine}: unterminated quoted CSV field`);
  if (field !== '' || fields.length > 0) {
    fields.push(field);
    records.push({ fields, line: recordLine });
  }
  if (records.length === 0) throw new UsageError(`${file}: empty CSV file (a header row is required)`);
  const header = records[0].fields;
  return records.slice(1).map((record, index) => {
    if (record.fields.length !== header.length) {
      throw new UsageError(`${file}:${record.line}: ${record.fields.length} fields, but the header has ${header.length}`);
    }
    const data: RawRecord = {};
    header.forEach((name, j) => (data[name] = record.fields[j]));
    return { data, file, line: record.line, index };
  });
}

async function readParquet(file: string): Promise<RawRow[]> {
  let objects: Record<string, unknown>[];
  try {
    objects = await parquetReadObjects({ file: await asyncBufferFromFile(file) });
  } catch (err) {
    throw new UsageError(`${file}: cannot read parquet (${(err as Error).message})`);
  }
  return objects.map((data, index) => ({ data: normaliseValue(data) as RawRecord, file, line: null, index }));
}

// Parquet int64 columns arrive as BigInt; the rest of the pipeline works with JSON values.
function normaliseValue(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(normaliseValue);
  if (value !== null && typeof value === 'object' && !(value instanceof Date) && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = normaliseValue(v);
    return out;
  }
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

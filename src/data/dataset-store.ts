// Tokenized rows in memory and on disk. On disk one split is one binary file: a JSON header, then for each field
// the row lengths and the concatenated int32 values (little-endian), so a cached dataset loads without re-tokenising.

import { readFileSync } from 'node:fs';
import { RetuneError } from '../util/errors.js';

export interface TokenizedRow {
  inputIds: Int32Array;
  labels: Int32Array; // -100 where no loss
  positions?: Int32Array; // packed rows: position within each sample
  segments?: Int32Array; // packed rows: 1, 2, ... per sample
  rejectedIds?: Int32Array; // rm / dpo: prompt + rejected answer (inputIds holds prompt + chosen)
  rejectedLabels?: Int32Array;
  klIds?: Int32Array; // kto: prompt + a mismatched answer
  klLabels?: Int32Array;
  ktoTag?: boolean; // kto: true for a desirable answer
}

const ARRAY_FIELDS = ['inputIds', 'labels', 'positions', 'segments', 'rejectedIds', 'rejectedLabels', 'klIds', 'klLabels'] as const;
type ArrayField = (typeof ARRAY_FIELDS)[number];
const MAGIC = 'RTDS1';

export class TokenizedDataset {
  private readonly rows: TokenizedRow[];

  constructor(rows: TokenizedRow[]) {
    this.rows = rows;
  }

  get size(): number {
    return this.rows.length;
  }

  get(i: number): TokenizedRow {
    const row = this.rows[i];
    if (row === undefined) throw new RangeError(`TokenizedDataset.get: index ${i} out of range [0, ${this.rows.length})`);
    return row;
  }

  toBuffer(): Buffer {
    const fields = ARRAY_FIELDS.filter((f) => this.rows.length > 0 && this.rows[0][f] !== undefined);
    const hasKto = this.rows.length > 0 && this.rows[0].ktoTag !== undefined;
    const header = Buffer.from(JSON.stringify({ magic: MAGIC, size: this.rows.length, fields, hasKto }), 'utf8');
    const parts: Buffer[] = [];
    const headerLength = Buffer.alloc(4);
    headerLength.writeUInt32LE(header.length);
    parts.push(headerLength, header);
    for (const field of fields) {
      const lengths = new Int32Array(this.rows.length);
      let total = 0;
      this.rows.forEach((row, i) => {
        const values = row[field] as Int32Array;
        lengths[i] = values.length;
        total += values.length;
      });
      const data = new Int32Array(total);
      let offset = 0;
      for (const row of this.rows) {
        data.set(row[field] as Int32Array, offset);
        offset += (row[field] as Int32Array).length;
      }
      parts.push(int32Bytes(lengths), int32Bytes(data));
    }
    if (hasKto) parts.push(Buffer.from(this.rows.map((r) => (r.ktoTag ? 1 : 0))));
    return Buffer.concat(parts);
  }

  static fromFile(path: string): TokenizedDataset {
    const buf = readFileSync(path);
    const corrupt = (why: string): never => {
      throw new RetuneError(`${path}: corrupt tokenized dataset (${why}); delete it or set overwrite_cache: true`);
    };
    if (buf.length < 4) corrupt('too short');
    const headerLength = buf.readUInt32LE(0);
    let header: { magic: string; size: number; fields: ArrayField[]; hasKto: boolean };
    try {
      header = JSON.parse(buf.subarray(4, 4 + headerLength).toString('utf8'));
    } catch {
      return corrupt('bad header');
    }
    if (header.magic !== MAGIC) corrupt('unknown format');
    const rows: TokenizedRow[] = Array.from({ length: header.size }, () => ({}) as TokenizedRow);
    let pos = 4 + headerLength;
    const readInt32 = (count: number): Int32Array => {
      if (pos + count * 4 > buf.length) corrupt('truncated');
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = buf.readInt32LE(pos + i * 4);
      pos += count * 4;
      return out;
    };
    for (const field of header.fields) {
      const lengths = readInt32(header.size);
      const total = lengths.reduce((a, b) => a + b, 0);
      const data = readInt32(total);
      let offset = 0;
      for (let i = 0; i < header.size; i++) {
        rows[i][field] = data.subarray(offset, offset + lengths[i]);
        offset += lengths[i];
      }
    }
    if (header.hasKto) {
      if (pos + header.size > buf.length) corrupt('truncated');
      for (let i = 0; i < header.size; i++) rows[i].ktoTag = buf[pos + i] === 1;
      pos += header.size;
    }
    if (pos !== buf.length) corrupt('trailing bytes');
    return new TokenizedDataset(rows);
  }
}

function int32Bytes(values: Int32Array): Buffer {
  const out = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) out.writeInt32LE(values[i], i * 4);
  return out;
}

// Follows a run's trainer_log.jsonl as the trainer appends to it: fs.watch on the folder wakes it, and each wake reads
// only the bytes added since the last one. A file that shrank or was replaced (a resume drops the rows logged after
// its checkpoint and rewrites the file) is read again from the start after a reset.
import { closeSync, openSync, readSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { LogRow } from './api-types.js';

export function parseRows(text: string): LogRow[] {
  const rows: LogRow[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      rows.push(JSON.parse(line) as LogRow);
    } catch {
      // A line cut short by a kill: the trainer drops it on resume too.
    }
  }
  return rows;
}

export class LogTail {
  private offset = 0;
  private inode = -1;
  private partial: Buffer = Buffer.alloc(0); // bytes after the last newline: a row still being written
  private watcher: FSWatcher | null = null;

  constructor(
    private readonly file: string,
    private readonly onRows: (rows: LogRow[]) => void,
    private readonly onReset: () => void,
  ) {}

  // Sends the rows already written, then follows the file.
  start(): void {
    this.read();
    const name = basename(this.file);
    this.watcher = watch(dirname(this.file), (_event, changed) => {
      if (changed === null || changed === name) this.read();
    });
    this.watcher.on('error', () => this.close());
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
  }

  private read(): void {
    const stat = statSync(this.file, { throwIfNoEntry: false });
    if (stat === undefined) return;
    if (this.inode !== -1 && (stat.ino !== this.inode || stat.size < this.offset)) {
      this.offset = 0;
      this.partial = Buffer.alloc(0);
      this.onReset();
    }
    this.inode = stat.ino;
    if (stat.size === this.offset) return;
    const fd = openSync(this.file, 'r');
    let bytes: Buffer;
    try {
      const buffer = Buffer.alloc(stat.size - this.offset);
      const n = readSync(fd, buffer, 0, buffer.length, this.offset);
      this.offset += n;
      bytes = Buffer.concat([this.partial, buffer.subarray(0, n)]);
    } finally {
      closeSync(fd);
    }
    // Cut at the last newline in bytes, so a character split across two reads is decoded whole.
    const end = bytes.lastIndexOf(0x0a);
    this.partial = bytes.subarray(end + 1);
    if (end >= 0) {
      const rows = parseRows(bytes.subarray(0, end).toString('utf8'));
      if (rows.length > 0) this.onRows(rows);
    }
  }
}

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
  private partial = '';
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
      this.partial = '';
      this.onReset();
    }
    this.inode = stat.ino;
    if (stat.size === this.offset) return;
    const fd = openSync(this.file, 'r');
    let text: string;
    try {
      const buffer = Buffer.alloc(stat.size - this.offset);
      const n = readSync(fd, buffer, 0, buffer.length, this.offset);
      this.offset += n;
      text = this.partial + buffer.subarray(0, n).toString('utf8');
    } finally {
      closeSync(fd);
    }
    const end = text.lastIndexOf('\n');
    this.partial = text.slice(end + 1);
    if (end >= 0) {
      const rows = parseRows(text.slice(0, end));
      if (rows.length > 0) this.onRows(rows);
    }
  }
}

// Generated ids turned into text as they come: a token may end inside a multi-byte character, and the text of a
// token can change once the next one arrives (tokenizers merge spaces and bytes), so the whole reply is decoded each
// time and only a stable, grown prefix is handed out. Stop strings end the reply where they begin; text that could
// still become a stop string is held back until it cannot.
import type { Tokenizer } from '../data/index.js';

export class TextStream {
  private readonly ids: number[] = [];
  private shown = '';
  private stoppedAt = -1;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly skipSpecialTokens: boolean,
    private readonly stops: string[] = [],
  ) {}

  // True once a stop string appeared; the text then ends before it.
  get stopped(): boolean {
    return this.stoppedAt >= 0;
  }

  // The reply so far, as handed out plus what is held back (without a stop string and what follows it).
  get text(): string {
    const full = this.decode();
    return this.stoppedAt >= 0 ? full.slice(0, this.stoppedAt) : full;
  }

  // Adds a token; returns the text that became safe to show (possibly '').
  push(id: number): string {
    if (this.stopped) return '';
    this.ids.push(id);
    const full = this.decode();
    if (full.endsWith('\uFFFD') || !full.startsWith(this.shown)) return '';
    const stop = this.findStop(full);
    if (stop >= 0) {
      this.stoppedAt = stop;
      return this.advance(full.slice(0, stop));
    }
    return this.advance(full.slice(0, full.length - this.heldBack(full)));
  }

  // The rest once generation ended.
  finish(): string {
    return this.advance(this.text);
  }

  private advance(upTo: string): string {
    if (!upTo.startsWith(this.shown) || upTo.length <= this.shown.length) return '';
    const delta = upTo.slice(this.shown.length);
    this.shown = upTo;
    return delta;
  }

  private decode(): string {
    return this.tokenizer.decode(this.ids, { skipSpecialTokens: this.skipSpecialTokens });
  }

  private findStop(text: string): number {
    let first = -1;
    for (const stop of this.stops) {
      const at = text.indexOf(stop, Math.max(0, this.shown.length - stop.length + 1));
      if (at >= 0 && (first < 0 || at < first)) first = at;
    }
    return first;
  }

  // Length of the longest end of `text` that is the start of some stop string.
  private heldBack(text: string): number {
    let longest = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, text.length); n > longest; n--) {
        if (text.endsWith(stop.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }
}

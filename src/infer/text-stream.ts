// Generated ids turned into text as they come: a token may end inside a multi-byte character, and the text of a
// token can change once the next one arrives (tokenizers merge spaces and bytes), so only a stable, grown prefix is
// handed out. Each new token decodes only the ids since the last text that grew, together with the ones that gave
// it (as text-generation-inference does), and keeps what follows their text: the tokenizer joins the new pieces as
// a full decode would, and a long reply costs no more per token than a short one. Stop strings end the reply where they begin; text that could
// still become a stop string is held back until it cannot.
import type { Tokenizer } from '../data/index.js';

export class TextStream {
  private readonly ids: number[] = [];
  private prefix = 0; // ids[prefix:] are decoded together
  private read = 0; // ids[prefix:read] gave prefixText; the text of ids[:read] is `decoded`
  private prefixText = '';
  private decoded = '';
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
    const full = this.decoded + this.decodeTail().slice(this.prefixText.length);
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

  // The text of every id so far, up to the last complete character the new ids end with.
  private decode(): string {
    const tail = this.decodeTail();
    if (tail.length > this.prefixText.length && !tail.endsWith('\uFFFD') && tail.startsWith(this.prefixText)) {
      this.decoded += tail.slice(this.prefixText.length);
      this.prefix = this.read;
      this.read = this.ids.length;
      this.prefixText = this.tokenizer.decode(this.ids.slice(this.prefix, this.read), { skipSpecialTokens: this.skipSpecialTokens });
    }
    return this.decoded;
  }

  private decodeTail(): string {
    return this.tokenizer.decode(this.ids.slice(this.prefix), { skipSpecialTokens: this.skipSpecialTokens });
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

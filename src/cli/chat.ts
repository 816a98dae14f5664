// `retune chat cfg.yaml [key=value ...] [--prompt "text"]`: talk to a model (adapters merged in) through its chat
// template, streaming each reply. Three ways in, one conversation logic:
//   --prompt "text"     one reply on stdout, then exit (scripts, tests);
//   stdin not a TTY     every line is the next user turn of one conversation, each reply on stdout;
//   a terminal          an interactive prompt.
// In the last two, `/clear` forgets the history and `/exit` ends. History is kept as text, as LLaMA-Factory does.
import { createInterface } from 'node:readline';
import { UsageError } from '../util/errors.js';
import { loadConfig, requireKeys } from '../config/load.js';
import type { RetuneConfig } from '../config/schema.js';
import type { Message } from '../data/index.js';
import { InferenceEngine } from '../infer/engine.js';
import { openFromConfig, samplingFromConfig } from '../infer/open.js';
import { parseArgs } from './args.js';
import { printConfigNotices } from './notices.js';
import { startEngine } from './engine.js';

class ChatSession {
  private history: Message[] = [];

  constructor(
    private readonly engine: InferenceEngine,
    private readonly config: RetuneConfig,
  ) {}

  clear(): void {
    this.history = [];
  }

  // Generates the answer to `question`, handing printable text to `write` as it grows; returns the whole answer.
  async reply(question: string, write: (text: string) => void): Promise<string> {
    const messages: Message[] = [...this.history, { role: 'user', content: question }];
    const promptIds = this.engine.chatPrompt(messages);
    const room = this.engine.contextLength - promptIds.length;
    if (room <= 0) {
      throw new UsageError(`the conversation is ${promptIds.length} tokens, the model's limit is ` +
        `${this.engine.contextLength}; /clear the history`);
    }
    const { text } = await this.engine.complete(promptIds, {
      maxNewTokens: Math.min(this.config.max_new_tokens, room),
      sampling: samplingFromConfig(this.config),
      onText: write,
    });
    this.history.push({ role: 'user', content: question }, { role: 'assistant', content: text });
    return text;
  }
}

async function openSession(config: RetuneConfig): Promise<ChatSession> {
  const engine = new InferenceEngine(await openFromConfig(config), { skipSpecialTokens: config.skip_special_tokens, maxBatch: 1 });
  return new ChatSession(engine, config);
}

const write = (text: string): void => {
  process.stdout.write(text);
};

// One conversation over lines, whether typed at a terminal or piped in. Returns at /exit or end of input.
async function converse(session: ChatSession, interactive: boolean): Promise<void> {
  const output = interactive ? process.stdout : undefined;
  const lines = createInterface({ input: process.stdin, output, terminal: interactive });
  // Ctrl-C at the prompt ends the chat like /exit (readline would otherwise only pause the input).
  lines.on('SIGINT', () => lines.close());
  if (interactive) {
    write('Chat with the model: /clear forgets the history, /exit ends.\n');
    lines.setPrompt('User: ');
    lines.prompt();
  }
  for await (const raw of lines) {
    const line = raw.trim();
    if (line === '/exit') break;
    if (line === '/clear') session.clear();
    else if (line !== '') {
      if (interactive) write('Assistant: ');
      try {
        await session.reply(line, write);
        write('\n');
      } catch (err) {
        // A turn that does not fit ends that turn only at a terminal; scripts get the error and the exit code.
        if (!(interactive && err instanceof UsageError)) throw err;
        process.stderr.write(`\nretune: ${err.message}\n`);
      }
    }
    if (interactive) lines.prompt();
  }
  lines.close();
}

export async function runChatCommand(args: string[]): Promise<number> {
  const { configPath, overrides, flags } = parseArgs('chat', args, { prompt: 'string' });
  const loaded = loadConfig(configPath, overrides);
  printConfigNotices(loaded);
  requireKeys(loaded, ['model_name_or_path'], 'to chat');
  const prompt = flags.get('prompt');
  if (typeof prompt === 'string' && prompt.trim() === '') {
    throw new UsageError('--prompt is empty; give the message to send, e.g. --prompt "Hello"');
  }
  startEngine(loaded.config);
  const session = await openSession(loaded.config);
  if (typeof prompt === 'string') {
    await session.reply(prompt, write);
    write('\n');
  } else {
    await converse(session, process.stdin.isTTY === true);
  }
  return 0;
}

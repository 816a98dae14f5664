// `retune webui [--host 127.0.0.1] [--port 7860] [--root DIR] [--token T]`: the Retune Board. Binds loopback unless
// told otherwise (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT are read as LLaMA-Factory's webui reads them); any other
// host needs the access token printed with the URL. Ctrl-C stops running trainings with SIGTERM (each saves a
// checkpoint and can be resumed), then the server.
import { UsageError } from '../util/errors.js';
import { parseArgs } from './args.js';

function portOf(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`webui: --port must be 0..65535, got ${text}`);
  return port;
}

export async function runWebuiCommand(args: string[]): Promise<number> {
  const { configPath, overrides, flags } = parseArgs('webui', args, { host: 'string', port: 'string', root: 'string', token: 'string' });
  if (configPath !== null || overrides.length > 0) throw new UsageError('webui: takes no config file or key=value (configure runs in the page)');
  const host = (flags.get('host') as string | undefined) ?? process.env.GRADIO_SERVER_NAME ?? '127.0.0.1';
  const port = portOf((flags.get('port') as string | undefined) ?? process.env.GRADIO_SERVER_PORT ?? '7860');
  const token = (flags.get('token') as string | undefined) ?? null;
  const { createBoard } = await import('../server/webui/server.js');
  const board = createBoard({ host, port, root: (flags.get('root') as string | undefined) ?? '.', token });
  await board.listen();
  process.stdout.write(`Retune Board: ${board.url()}\n  root ${board.paths.root}\n  Ctrl-C stops it (running trainings save a checkpoint first)\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.stdout.write('stopping: running trainings save a checkpoint and stop...\n');
      board.close().then(resolve, resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

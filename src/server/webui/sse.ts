// Server-sent events on a route's raw socket: `event: <type>` + `data: <json of the whole event>` per event, a comment
// line now and then so proxies keep the connection, and the closers run when the client goes away.
import type { FastifyReply } from 'fastify';

const KEEPALIVE_MS = 15_000;

export function openStream<E extends { type: string }>(reply: FastifyReply): { send: (e: E) => void; onClose: (f: () => void) => void } {
  reply.hijack();
  reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const send = (event: E): void => {
    reply.raw.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  };
  const keepalive = setInterval(() => reply.raw.write(': keepalive\n\n'), KEEPALIVE_MS);
  const closers: (() => void)[] = [() => clearInterval(keepalive)];
  // The response's close: the client went away (a request's own 'close' can fire as soon as its body is read).
  reply.raw.on('close', () => closers.forEach((f) => f()));
  return { send, onClose: (f) => closers.push(f) };
}


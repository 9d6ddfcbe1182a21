/**
 * HTTP replies written by hand on a raw socket (a refused upgrade, a request
 * the parser rejected, a connection over the caps): one writer, so every such
 * reply has its status text from Node's table and a Content-Length that
 * matches the body's bytes.
 */
import { STATUS_CODES } from 'node:http';

/** The whole reply, ready to write; the connection is closed after it. */
export function httpReply(status: number, body = '', headers: Readonly<Record<string, string>> = {}): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
  if (body !== '') head += 'Content-Type: text/plain; charset=utf-8\r\n';
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return `${head}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** The answer to a connection over the caps, wherever it is refused (the supervisor, or a worker over TLS). */
export const TOO_MANY_CONNECTIONS = httpReply(503, 'too many connections; try again later\n', { 'Retry-After': '5' });

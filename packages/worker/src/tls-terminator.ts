/**
 * TLS on the sockets the supervisor hands over: each raw TCP socket is
 * wrapped in a server-side TLSSocket with the current secure context, and
 * the HTTP server reads the decrypted stream as it would a plain one. The
 * supervisor keeps handing out raw sockets and never holds a TLS session.
 *
 * A renewed certificate becomes a new context, swapped in place: handshakes
 * from then on get it, connections already up keep the one they agreed on.
 */
import type { Socket } from 'node:net';
import tls from 'node:tls';

/** How long a client has to complete its handshake. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export class TlsTerminator {
  private context: tls.SecureContext | null = null;

  /** Whether a certificate has arrived: a TLS worker serves only once it has. */
  get ready(): boolean {
    return this.context !== null;
  }

  /** The pair to serve from now on. Throws (and keeps the old one) if OpenSSL refuses it. */
  setSecureContext(cert: string, key: string): void {
    this.context = tls.createSecureContext({ cert, key });
  }

  /**
   * The server side of a TLS connection over `raw`. `failed` hears of a
   * handshake that broke or took too long; the socket is destroyed then.
   */
  wrap(raw: Socket, failed: (why: string) => void): tls.TLSSocket {
    if (this.context === null) throw new Error('TLS socket before the certificate: the worker must not be ready yet');
    const socket = new tls.TLSSocket(raw, { isServer: true, secureContext: this.context, ALPNProtocols: ['http/1.1'] });
    let secured = false;
    const timer = setTimeout(() => {
      failed('handshake timed out');
      socket.destroy();
    }, HANDSHAKE_TIMEOUT_MS);
    socket.once('secure', () => {
      secured = true;
      clearTimeout(timer);
    });
    socket.once('close', () => clearTimeout(timer));
    socket.on('error', (err: Error) => {
      // Before the handshake: a client that speaks no TLS, or none we accept. After it, the HTTP server's business.
      if (!secured) failed(err.message);
      socket.destroy();
    });
    return socket;
  }
}

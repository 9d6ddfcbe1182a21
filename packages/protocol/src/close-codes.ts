/**
 * WebSocket close codes smegchat uses, each saying why (docs/PROTOCOL.md#close-codes).
 */
export const CloseCode = {
  /** The server is stopping. */
  GoingAway: 1001,
  /** A binary frame: smegchat speaks JSON text only. */
  Unsupported: 1003,
  /** Not JSON, or not a valid message. */
  InvalidPayload: 1007,
  /** Over the rate limit, or refused by policy (origin, too slow a reader). */
  Policy: 1008,
  /** A frame larger than `Limits.maxFrameBytes`. */
  TooLarge: 1009,
  /** An unexpected server fault. */
  InternalError: 1011,
  /** The worker is being replaced by a reload: reconnect and resume. */
  Restart: 1012,
  /** A capacity limit (boards, connections): try again later. */
  TryAgainLater: 1013,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** A client's fault, carrying the close code its connection ends with. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly closeCode: CloseCode,
    /** Stable machine-readable reason, e.g. `'bad-points'`. */
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

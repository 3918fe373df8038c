import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

/**
 * `total` bytes (a multiple of 4) of deterministic noise in 64 KiB pieces, hashed as they are produced; `onPiece`
 * sees the bytes produced so far.
 */
export function noise(total: number, onPiece?: (sent: number) => void): { body: Readable; sha256: () => string } {
  const hash = createHash('sha256');
  let sent = 0;
  let x = 12345;
  const body = new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(64 * 1024, total - sent);
      const piece = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i += 4) {
        x = (x * 1103515245 + 12345) >>> 0;
        piece.writeUInt32LE(x, i);
      }
      hash.update(piece);
      sent += n;
      onPiece?.(sent);
      this.push(piece);
    },
  });
  return { body, sha256: () => hash.digest('hex') };
}

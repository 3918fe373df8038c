import type { Cell, ColumnSchema } from '../../csv/types.js';
import { CsvByteWriter } from '../../csv/byte-writer.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import { exportEncoder, type ExportContext, type FieldMeta, type RawValue } from './mysql-types.js';

/*
 * The export's hot path: rows of MySQL's text protocol turned into exchange-format bytes as they arrive, without a
 * JavaScript value per cell. A row packet is a list of length-encoded byte strings (0xFB for NULL); the server has
 * already converted text to the connection's utf8mb4, and numbers, decimals and dates are ASCII that never needs
 * quoting. Only the rare column types that need a real conversion (FLOAT, DOUBLE, binary) go through exportEncoder.
 *
 * mysql2 has no public hook for raw rows: this replaces the row parser of one query (Query#_rowParser), which mysql2
 * calls as `next(packet)` for every row packet. `attachRowEncoder` checks that mysql2 really called it (each row's
 * 'result' must be ROW_WRITTEN), so a mysql2 that stopped using that field fails loudly instead of losing rows.
 */

/** What the replaced parser returns for each row, and what the 'result' event must carry. */
export const ROW_WRITTEN: unique symbol = Symbol('pigeon: row written');

/** The part of mysql2's Packet the encoder reads. */
interface RowPacket {
  readonly buffer: Buffer;
  readonly offset: number;
  readonly end: number;
}

const enum Kind {
  /** ASCII that never needs quotes: integers, decimals, TIME. */
  Plain,
  /** UTF-8 text, quoted when needed. */
  Text,
  /** DATE, DATETIME: zero dates become NULL or fail. */
  Date,
  /** TIMESTAMP, read in UTC: `+00` is appended. */
  DateUtc,
  /** TINYINT(1) as boolean: 0 and 1 only. */
  Boolean,
  /** Anything else: through exportEncoder, from a string or bytes. */
  Convert,
}

interface ColumnPlan {
  readonly kind: Kind;
  readonly column: ColumnSchema;
  /** For Kind.Convert: the value's conversion; `bytes` when it wants a Buffer rather than text. */
  readonly convert?: (v: RawValue) => Cell;
  readonly bytes?: boolean;
}

const NULL_LENGTH = 0xfb;

/** Encodes the rows of one query; `write` is called with full buffers and the rows they complete. */
export class MysqlRowEncoder {
  readonly #plans: readonly ColumnPlan[];
  readonly #out: CsvByteWriter;
  rows = 0;

  constructor(columns: readonly ColumnSchema[], fields: readonly FieldMeta[], ctx: ExportContext, write: (bytes: Buffer, rows: number) => void) {
    this.#out = new CsvByteWriter(write);
    this.#plans = columns.map((c, i) => planOf(c, fields[i]!, ctx));
  }

  /** Called by mysql2 for each row packet. */
  next(packet: RowPacket): typeof ROW_WRITTEN {
    const buf = packet.buffer;
    let o = packet.offset;
    const out = this.#out;
    const plans = this.#plans;
    for (let i = 0; i < plans.length; i++) {
      let len = buf[o++]!;
      if (len === NULL_LENGTH) {
        out.nul();
        continue;
      }
      if (len === 0xfc) {
        len = buf[o]! | (buf[o + 1]! << 8);
        o += 2;
      } else if (len === 0xfd) {
        len = buf[o]! | (buf[o + 1]! << 8) | (buf[o + 2]! << 16);
        o += 3;
      } else if (len === 0xfe) {
        len = buf.readUInt32LE(o) + buf.readUInt32LE(o + 4) * 2 ** 32;
        o += 8;
      }
      const start = o;
      o += len;
      const plan = plans[i]!;
      switch (plan.kind) {
        case Kind.Plain:
          out.plain(buf, start, o);
          break;
        case Kind.Text:
          out.text(buf, start, o);
          break;
        case Kind.Date:
        case Kind.DateUtc:
          if (isZeroDate(buf, start, o)) this.#zeroDate(plan, buf.toString('latin1', start, o));
          else out.plain(buf, start, o, plan.kind === Kind.DateUtc ? '+00' : undefined);
          break;
        case Kind.Boolean: {
          const b = len === 1 ? buf[start] : -1;
          if (b === 0x30) out.plain(FALSE, 0, 5);
          else if (b === 0x31) out.plain(TRUE, 0, 4);
          else this.#convert(plan, buf.toString('utf8', start, o));
          break;
        }
        default:
          this.#convert(plan, plan.bytes ? Buffer.from(buf.subarray(start, o)) : buf.toString('utf8', start, o));
      }
    }
    if (o !== packet.end) {
      throw new PipelineError('INTERNAL', `a row packet of ${packet.end - packet.offset} bytes did not hold exactly ${plans.length} values`);
    }
    out.endRow();
    this.rows++;
    return ROW_WRITTEN;
  }

  /** Hands over the last rows. */
  end(): void {
    this.#out.end();
  }

  #convert(plan: ColumnPlan, v: RawValue): void {
    const cell = plan.convert!(v);
    if (cell === null) this.#out.nul();
    else this.#out.string(cell);
  }

  #zeroDate(plan: ColumnPlan, text: string): void {
    // exportEncoder owns the rule (NULL and a count, or BAD_VALUE).
    this.#convert(plan, text);
  }
}

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');

function planOf(column: ColumnSchema, field: FieldMeta, ctx: ExportContext): ColumnPlan {
  switch (column.type) {
    case 'int16':
    case 'int32':
    case 'int64':
    case 'uint64':
    case 'decimal':
    case 'time':
      return { kind: Kind.Plain, column };
    case 'string':
    case 'text':
    case 'json':
    case 'uuid':
      return { kind: Kind.Text, column };
    case 'date':
    case 'timestamp':
      return { kind: Kind.Date, column, convert: exportEncoder(column, field, ctx) };
    case 'timestamptz':
      return { kind: Kind.DateUtc, column, convert: exportEncoder(column, field, ctx) };
    case 'boolean':
      return { kind: Kind.Boolean, column, convert: exportEncoder(column, field, ctx) };
    default:
      return { kind: Kind.Convert, column, convert: exportEncoder(column, field, ctx), bytes: column.type === 'binary' };
  }
}

/** `0000-…`, a zero month or a zero day (see mysql-types.ts isZeroDate), on the value's bytes. */
function isZeroDate(buf: Buffer, start: number, end: number): boolean {
  if (end - start < 10) return false;
  return (buf[start + 5] === 0x30 && buf[start + 6] === 0x30) || (buf[start + 8] === 0x30 && buf[start + 9] === 0x30);
}

/** The mysql2 query object, as far as the hook needs it. */
interface HookableQuery {
  on(event: 'result', listener: (row: unknown) => void): unknown;
}

/**
 * Makes `query` hand every row packet to `encoder` instead of mysql2's own parser. A row that mysql2 parsed itself
 * (its internals changed) calls `fail`.
 */
export function attachRowEncoder(query: object, encoder: MysqlRowEncoder, fail: (e: Error) => void): void {
  Object.defineProperty(query, '_rowParser', {
    configurable: true,
    get: () => encoder,
    // mysql2 assigns its compiled parser once the columns are known: kept out.
    set: () => {},
  });
  (query as HookableQuery).on('result', (row) => {
    if (row !== ROW_WRITTEN) fail(new PipelineError('INTERNAL', 'mysql2 did not hand the rows to the export encoder (has its Query#_rowParser changed?)'));
  });
}

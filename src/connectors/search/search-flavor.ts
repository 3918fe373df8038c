import { PipelineError } from '../../errors/pipeline-error.js';

/**
 * What differs between Elasticsearch and OpenSearch, as data: the one implementation reads these and never asks
 * which product it talks to.
 */
export interface SearchFlavor {
  readonly kind: 'elasticsearch' | 'opensearch';
  readonly product: string;
  /** Supported major versions (others are refused when connecting). */
  readonly majors: readonly [number, number];
  /** The first version with a usable point in time, as [major, minor]; older ones export by scroll. */
  readonly pitSince: readonly [number, number];
  /** Opens a point in time on `index`: the request path (keep_alive in the query). */
  readonly pitOpen: (index: string, keepAlive: string) => string;
  /** The key of the id in the open answer. */
  readonly pitIdKey: 'id' | 'pit_id';
  /** Closes one: path and body. */
  readonly pitClose: (id: string) => { readonly path: string; readonly body: unknown };
  /**
   * The sort that orders a point in time's hits uniquely, for search_after: Elasticsearch's `_shard_doc`;
   * OpenSearch has none, so index and `_id` (which needs `_id` field data, on by default there).
   */
  readonly pitSort: readonly unknown[];
  /** The first version with `unsigned_long` fields (Elasticsearch: the default distribution only). */
  readonly unsignedLongSince: readonly [number, number];
}

export const FLAVORS: Readonly<Record<SearchFlavor['kind'], SearchFlavor>> = {
  elasticsearch: {
    kind: 'elasticsearch',
    product: 'Elasticsearch',
    majors: [7, 9],
    pitSince: [7, 12],
    pitOpen: (index, keepAlive) => `/${encodeURIComponent(index)}/_pit?keep_alive=${keepAlive}`,
    pitIdKey: 'id',
    pitClose: (id) => ({ path: '/_pit', body: { id } }),
    pitSort: [{ _shard_doc: 'asc' }],
    unsignedLongSince: [7, 10],
  },
  opensearch: {
    kind: 'opensearch',
    product: 'OpenSearch',
    majors: [1, 3],
    pitSince: [2, 4],
    pitOpen: (index, keepAlive) => `/${encodeURIComponent(index)}/_search/point_in_time?keep_alive=${keepAlive}`,
    pitIdKey: 'pit_id',
    pitClose: (id) => ({ path: '/_search/point_in_time', body: { pit_id: [id] } }),
    pitSort: [{ _index: 'asc' }, { _id: 'asc' }],
    unsignedLongSince: [2, 8],
  },
};

/** The server a connection talks to, from `GET /`. */
export interface SearchServer {
  readonly flavor: SearchFlavor;
  readonly version: string;
  /** Point in time + search_after can be used. */
  readonly pit: boolean;
  /** `unsigned_long` fields may exist (the field is created as keyword if the server refuses it). */
  readonly unsignedLong: boolean;
}

/** Checks that the server is the product and a version the connection's kind supports. */
export function serverOf(kind: SearchFlavor['kind'], connection: string, info: { version?: { number?: string; distribution?: string } }): SearchServer {
  const flavor = FLAVORS[kind];
  const number = info.version?.number ?? '';
  const actual = info.version?.distribution === 'opensearch' ? 'opensearch' : 'elasticsearch';
  if (actual !== kind) {
    throw new PipelineError('INVALID_CONFIG', `connection \`${connection}\` is of type ${kind} but the server is ${FLAVORS[actual].product} ${number}`, {
      connection,
      hint: `set \`type: ${actual}\``,
    });
  }
  const [major = 0, minor = 0] = number.split('.').map((n) => Number.parseInt(n, 10));
  if (major < flavor.majors[0] || major > flavor.majors[1]) {
    throw new PipelineError('UNSUPPORTED', `${flavor.product} ${number} is not supported (versions ${flavor.majors[0]} to ${flavor.majors[1]} are)`, { connection });
  }
  const atLeast = ([a, b]: readonly [number, number]) => major > a || (major === a && minor >= b);
  return { flavor, version: number, pit: atLeast(flavor.pitSince), unsignedLong: atLeast(flavor.unsignedLongSince) };
}

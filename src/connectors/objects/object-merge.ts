import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database as Db } from 'better-sqlite3';
import type { CsvFile } from '../../csv/reader.js';
import type { Cell } from '../../csv/types.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { CsvSink } from '../contract.js';
import { loadDriver } from '../driver.js';

export interface MergeInput {
  /** Column names of every input and of the output. */
  readonly names: readonly string[];
  readonly key: readonly string[];
  /** The target's rows, then the load's: opened one after the other; the last row of a key wins. */
  readonly existing: AsyncIterable<CsvFile>;
  readonly loaded: AsyncIterable<CsvFile>;
  /** A local directory for the work database. */
  readonly tmpDir: string;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Merges on disk, not in memory: the target's rows, then the loaded ones, go into a temporary SQLite table; the last
 * row of each key wins, and the rows are written to `out` in the order they were last written. Returns the rows of
 * the load (not of the output).
 */
export async function mergeRows(input: MergeInput, out: CsvSink): Promise<number> {
  const { names, signal } = input;
  const keyIdx = input.key.map((k) => {
    const i = names.indexOf(k);
    if (i < 0) throw new PipelineError('IMPORT_FAILED', `merge key \`${k}\` is not a column of the export`, { column: k });
    return i;
  });
  const Database = await loadDriver<typeof import('better-sqlite3')>('better-sqlite3', 'object merge');
  await mkdir(input.tmpDir, { recursive: true });
  const dbPath = join(input.tmpDir, `merge-${randomBytes(6).toString('hex')}.db`);
  const db: Db = new Database(dbPath);
  try {
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    const cols = names.map((_, i) => `c${i}`);
    db.exec(`CREATE TABLE t (seq INTEGER PRIMARY KEY, k TEXT NOT NULL, ${cols.map((c) => `${c} TEXT`).join(', ')})`);
    const insert = db.prepare(`INSERT INTO t (k, ${cols.join(', ')}) VALUES (?, ${cols.map(() => '?').join(', ')})`);
    const insertBatch = db.transaction((rows: Cell[][]) => {
      for (const r of rows) insert.run(JSON.stringify(keyIdx.map((i) => r[i])), ...r);
    });
    const load = async (files: AsyncIterable<CsvFile>) => {
      let n = 0;
      for await (const csv of files) {
        let batch: Cell[][] = [];
        for await (const row of csv.rows) {
          batch.push(row.cells);
          n++;
          if (batch.length >= 2000) {
            insertBatch(batch);
            batch = [];
            signal?.throwIfAborted();
          }
        }
        if (batch.length > 0) insertBatch(batch);
      }
      return n;
    };
    await load(input.existing);
    const loaded = await load(input.loaded);
    db.exec('CREATE INDEX t_k ON t (k)');
    const select = db.prepare(`SELECT ${cols.join(', ')} FROM t WHERE seq IN (SELECT MAX(seq) FROM t GROUP BY k) ORDER BY seq`).raw(true);
    let i = 0;
    for (const r of select.iterate() as IterableIterator<Cell[]>) {
      if (!out.row(r)) await out.drain();
      if (++i % 2000 === 0) signal?.throwIfAborted();
    }
    return loaded;
  } finally {
    db.close();
    await rm(dbPath, { force: true });
  }
}

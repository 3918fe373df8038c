import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ChunkFileWriter, openChunkFile } from '../../src/csv/chunk-file.js';
import { partialPath } from '../../src/connectors/objects/directory-store.js';
import { openCsv, type OpenCsvOptions } from '../../src/csv/reader.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';

/** Reads a whole CSV given as pieces; resolves to the error it fails with. */
async function failure(pieces: readonly (string | Buffer)[], options: Partial<OpenCsvOptions> = {}): Promise<PipelineError> {
  const input = Readable.from(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
  try {
    const file = await openCsv(input, { name: 'chunk-7.csv', ...options });
    for await (const _row of file.rows) {
      // read to the end
    }
  } catch (e) {
    assert.ok(e instanceof PipelineError, `expected a PipelineError, got ${String(e)}`);
    return e;
  }
  assert.fail('the CSV was accepted');
}

function assertBadCsv(e: PipelineError, chunkLine: number | undefined): void {
  assert.equal(e.code, 'BAD_CSV', e.message);
  assert.equal(e.location.chunk, 'chunk-7.csv');
  assert.equal(e.location.chunkLine, chunkLine, e.message);
}

/** Every way of cutting `text` in two, as Buffers, to show positions do not depend on chunking. */
function cuts(bytes: Buffer): Buffer[][] {
  const out: Buffer[][] = [[bytes]];
  for (let at = 1; at < bytes.length; at++) out.push([bytes.subarray(0, at), bytes.subarray(at)]);
  return out;
}

describe('reading a bad CSV fails with BAD_CSV at the right line', () => {
  it('a record with fewer or more fields than the header', async () => {
    assertBadCsv(await failure(['a,b,c\n1,2,3\n4,5\n6,7,8\n']), 3);
    assertBadCsv(await failure(['a,b\n1,2\n3,4,5\n']), 3);
    const e = await failure(['a,b,c,d,e\n', '1,2,3,4,5\n'.repeat(15), '1,2,3,4\n']);
    assertBadCsv(e, 17);
    assert.match(e.message, /line 17 has 4 fields, the header has 5/);
  });

  it('counts lines inside quoted fields and CRLF line ends, however the input is cut', async () => {
    const bytes = Buffer.from('a,b\r\n"x\ny\r\nz",1\r\n"",\\N\r\n2\r\n');
    for (const pieces of cuts(bytes)) assertBadCsv(await failure(pieces), 6);
  });

  it('an empty line is a record with one field', async () => {
    assertBadCsv(await failure(['a,b\n1,2\n\n3,4\n']), 3);
  });

  it('a quote that never closes', async () => {
    const e = await failure(['a,b\n1,2\n3,"four\n5,6\n7,8\n']);
    assertBadCsv(e, 3);
    assert.match(e.message, /unterminated quote/);
    assertBadCsv(await failure(['a,b\n"1']), 2);
  });

  it('text after a closing quote, and a quote inside an unquoted field', async () => {
    assertBadCsv(await failure(['a,b\n1,2\n"3"x,4\n']), 3);
    assertBadCsv(await failure(['a,b\n1,2\n"3" ,4\n']), 3);
    assertBadCsv(await failure(['a,b\n1,2\n3,fo"ur\n']), 3);
  });

  it('bytes that are not UTF-8, however the input is cut', async () => {
    const prefix = 'a,b\n"multi\nline",ü\n1,';
    const bad: Record<string, number[]> = {
      'a stray continuation byte': [0x80],
      'an invalid byte': [0xff],
      'an overlong slash': [0xc0, 0xaf],
      'an overlong 3-byte form': [0xe0, 0x80, 0xaf],
      'a UTF-16 surrogate': [0xed, 0xa0, 0x80],
      'a code point above U+10FFFF': [0xf4, 0x90, 0x80, 0x80],
      'a lead byte without its continuation': [0xe2, 0x82, 0x41],
    };
    for (const [what, bytes] of Object.entries(bad)) {
      const file = Buffer.concat([Buffer.from(prefix), Buffer.from(bytes), Buffer.from('\n2,3\n')]);
      for (const pieces of cuts(file)) {
        const e = await failure(pieces);
        assertBadCsv(e, 4);
        assert.match(e.message, /invalid UTF-8/, what);
      }
    }
  });

  it('reports the first problem in file order and delivers the rows before it', async () => {
    const file = Buffer.concat([Buffer.from('a,b\n1,2\n3\n4,5\n'), Buffer.from([0xff]), Buffer.from('\n')]);
    assertBadCsv(await failure([file]), 3);

    const opened = await openCsv(Readable.from([Buffer.from('a\n1\n2\n'), Buffer.from([0x33, 0xc0, 0x0a])]), { name: 'chunk-7.csv' });
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const row of opened.rows) seen.push(row.cells[0] ?? 'NULL');
      })(),
      (e: unknown) => e instanceof PipelineError && e.location.chunkLine === 4,
    );
    assert.deepEqual(seen, ['1', '2']);

    const ragged = await openCsv(Readable.from([Buffer.from('a\n1\n2\n3,4\n5\n')]), { name: 'chunk-7.csv' });
    const before: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const row of ragged.rows) before.push(row.cells[0] ?? 'NULL');
      })(),
      (e: unknown) => e instanceof PipelineError && e.location.chunkLine === 4,
    );
    assert.deepEqual(before, ['1', '2']);
  });

  it('a file that ends inside a multi-byte character', async () => {
    const e = await failure([Buffer.from('a\n1\n'), Buffer.from([0xf0, 0x9f, 0x98])]);
    assertBadCsv(e, 3);
    assert.match(e.message, /invalid UTF-8/);
  });

  it('invalid UTF-8 in the header rejects openCsv itself', async () => {
    await assert.rejects(openCsv(Readable.from([Buffer.from([0x61, 0xfe, 0x0a])]), { name: 'chunk-7.csv' }), (e: unknown) => {
      assert.ok(e instanceof PipelineError);
      assertBadCsv(e, 1);
      return true;
    });
  });

  it('a header that differs from the expected columns names the missing and extra ones', async () => {
    const e = await failure(['id,name,emial\n1,x,y\n'], { expectColumns: ['id', 'name', 'email'] });
    assertBadCsv(e, 1);
    assert.match(e.message, /missing "email"/);
    assert.match(e.message, /unexpected "emial"/);

    const order = await failure(['name,id\n'], { expectColumns: ['id', 'name'] });
    assertBadCsv(order, 1);
    assert.match(order.message, /order/);

    assertBadCsv(await failure(['id\n'], { expectColumns: ['id', 'name'] }), 1);
    assertBadCsv(await failure(['\ufeffid,id\n']), 1);
    assertBadCsv(await failure(['id,\\N\n']), 1);
  });

  it('accepts a header equal to the expected columns, after a BOM', async () => {
    const file = await openCsv(Readable.from([Buffer.from('\ufeffid,"na,me"\n1,2\n')]), {
      name: 'chunk-7.csv',
      expectColumns: ['id', 'na,me'],
    });
    assert.deepEqual(file.header, ['id', 'na,me']);
    const rows = [];
    for await (const row of file.rows) rows.push(row);
    assert.deepEqual(rows, [{ line: 2, cells: ['1', '2'] }]);
  });

  it('an empty file has no header', async () => {
    assertBadCsv(await failure([]), 1);
    assertBadCsv(await failure(['\ufeff']), 1);
  });
});

describe('chunk files on a failing disk', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pigeon-csv-errors-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('create() rejects with STAGING_FAILED when the folder cannot be made', async () => {
    const notADir = join(dir, 'file');
    await writeFile(notADir, 'x');
    await assert.rejects(ChunkFileWriter.create(join(notADir, 'chunk-0.csv'), ['a'], { gzip: false }), (e: unknown) => {
      assert.ok(e instanceof PipelineError);
      assert.equal(e.code, 'STAGING_FAILED');
      return true;
    });
  });

  for (const gzip of [false, true]) {
    it(`a full disk rejects finish() and drain() and leaves no partial file (gzip: ${gzip})`, { skip: !existsSync('/dev/full') }, async () => {
      const sub = await mkdtemp(join(dir, 'full-'));
      const path = join(sub, 'chunk-0.csv');
      // The partial file is a link to /dev/full, where every write fails with ENOSPC.
      await symlink('/dev/full', partialPath(path));
      const small = await ChunkFileWriter.create(path, ['a'], { gzip });
      small.row(['1']);
      await assert.rejects(small.finish(), (e: unknown) => {
        assert.ok(e instanceof PipelineError);
        assert.equal(e.code, 'STAGING_FAILED');
        assert.equal((e.cause as NodeJS.ErrnoException).code, 'ENOSPC');
        return true;
      });
      assert.deepEqual(await readdir(sub), []);

      await symlink('/dev/full', partialPath(path));
      const big = await ChunkFileWriter.create(path, ['a'], { gzip });
      const payload = Buffer.from(Array.from({ length: 4 << 20 }, (_, i) => (i * 7919) % 251)).toString('base64');
      let rejected: unknown;
      for (let i = 0; i < 100 && rejected === undefined; i++) {
        if (!big.row([payload.slice(i * 1000)])) rejected = await big.drain().then(() => undefined, (e: unknown) => e);
      }
      assert.ok(rejected instanceof PipelineError, 'drain() rejected');
      assert.equal(rejected.code, 'STAGING_FAILED');
      assert.deepEqual(await readdir(sub), []);
      await big.abort();
    });
  }

  it('abort() removes the partial file and leaves no chunk file', async () => {
    const path = join(dir, 'aborted.csv');
    const writer = await ChunkFileWriter.create(path, ['a'], { gzip: true });
    for (let i = 0; i < 100_000; i++) writer.row([String(i)]);
    await writer.abort();
    await writer.abort();
    assert.equal(existsSync(partialPath(path)), false);
    assert.equal(existsSync(path), false);
    assert.throws(() => writer.row(['x']));
  });

  it('a missing chunk file rejects openChunkFile with STAGING_FAILED', async () => {
    await assert.rejects(openChunkFile(join(dir, 'nope.csv'), false), (e: unknown) => e instanceof PipelineError && e.code === 'STAGING_FAILED');
  });

  it('a chunk file that is not gzip reads as BAD_CSV', async () => {
    const path = join(dir, 'plain.csv.gz');
    await writeFile(path, 'a,b\n1,2\n');
    await assert.rejects(
      (async () => {
        const file = await openCsv(await openChunkFile(path, true), { name: path });
        for await (const _row of file.rows) {
          // read to the end
        }
      })(),
      (e: unknown) => e instanceof PipelineError && e.code === 'BAD_CSV' && e.location.chunk === path,
    );
  });
});

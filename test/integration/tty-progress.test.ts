/**
 * Live progress on a real pseudo-terminal (`script` from util-linux): one line per running node with its phase, rows
 * exported and imported, rows/s, MB, % and ETA of a split node, redrawn in place, in colour; NO_COLOR drops the
 * colours, --quiet the live block; piped output stays plain lines. While the run goes, `pigeon status` shows the
 * running nodes' live rows and time. A frame of the terminal becomes test-artifacts/progress.png
 * (PIGEON_UPDATE_IMAGES=1: docs/images/progress.png too).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pigeon, tempDir } from '../support/cli.js';
import { makeSourceDb } from '../support/sqlite-fixtures.js';
import { pigeonBin } from '../support/paths.js';
import { artifact, openBrowser } from '../support/browser.js';
import { plain, Screen, terminalHtml } from '../support/terminal.js';

const PIPELINE = `version: 1
name: live
connections:
  src: { type: sqlite, path: src.db, max_connections: 4 }
  dw: { type: sqlite, path: dw.db }
  out: { type: file, dir: out }
defaults: { retries: 0 }
nodes:
  orders:
    source: { connection: src, table: orders, split: { column: id, chunks: 8 } }
    target: { connection: dw, table: orders, mode: overwrite }
  events:
    source: { connection: src, table: events }
    target: { connection: out, table: events, mode: overwrite }
  customers:
    source: { connection: src, table: customers }
    target: { connection: out, table: customers, mode: overwrite }
`;

/** Runs pigeon under a pseudo-terminal; `during` runs while it does. */
function onTty(args: string[], cwd: string, env: Record<string, string> = {}, during?: () => Promise<void>): Promise<{ code: number | null; out: string; duringDone: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const command = [pigeonBin, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd, env: { ...process.env, TERM: 'xterm-256color', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.resume();
    const duringDone = during ? during() : Promise.resolve();
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, duringDone }));
  });
}

test('on a terminal: a live line per running node, redrawn in place, coloured; NO_COLOR, --quiet and pipes respected; status shows live rows', async () => {
  const t = tempDir('pigeon-tty-');
  try {
    makeSourceDb(join(t.dir, "src.db"), 20);
    writeFileSync(join(t.dir, 'p.yaml'), PIPELINE);

    // While the run goes: `pigeon status` from elsewhere shows a running node's rows and time so far.
    let live: { state: string; rows_exported?: number; elapsed_ms?: number } | undefined;
    const watch = async () => {
      for (let i = 0; i < 80 && !live; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const s = await pigeon(['status', '--format', 'json'], { cwd: t.dir });
        if (s.code !== 0) continue;
        const nodes = (JSON.parse(s.stdout) as { nodes: { state: string; rows_exported?: number; elapsed_ms?: number }[] }).nodes;
        live = nodes.find((n) => n.state === 'running' && (n.rows_exported ?? 0) > 0 && (n.elapsed_ms ?? 0) > 0);
      }
    };
    const r = await onTty(['run', 'p.yaml'], t.dir, {}, watch);
    await r.duringDone;
    assert.equal(r.code, 0, plain(r.out));
    assert.ok(live, 'status showed a running node with rows and time');
    assert.match(r.out, /\x1b\[\d+A\r\x1b\[J/, 'the block is redrawn in place');
    assert.match(r.out, /\x1b\[3[1-6]m/, 'in colour');

    // The frames: a line per running node; the split node has its %, ETA once its speed is known.
    const screen = new Screen();
    const frames: string[][] = [];
    screen.write(r.out, (lines) => frames.push([...lines]));
    const nodeLine = /^▸ (\S+)\s+(planning|exporting|loading|committing|starting)\s+.*?([\d,]+) exported\s+([\d,]+) imported\s+(?:[\d,]+|–) rows\/s\s+[\d.]+ MB/;
    const lines = frames.flat().map(plain);
    assert.ok(lines.some((l) => nodeLine.test(l) && /^▸ orders/.test(l) && /\d+% ETA /.test(l)), 'orders: phase, rows, rows/s, MB, % and ETA');
    assert.ok(lines.some((l) => /^▸ events\s+exporting/.test(l)), 'events: its own line');
    assert.ok(lines.some((l) => /nodes done, \d running/.test(l)), 'a line of totals');
    // The frame with most running nodes, for the README.
    const best = frames.reduce((a, b) => (b.filter((l) => /▸/.test(l)).length > a.filter((l) => /▸/.test(l)).length || (b.filter((l) => /▸/.test(l)).length === a.filter((l) => /▸/.test(l)).length && /ETA/.test(plain(b.join())) && !/ETA/.test(plain(a.join()))) ? b : a), []);
    const browser = await openBrowser();
    try {
      const page = await browser.context.newPage();
      await page.setContent(terminalHtml(best.filter((l, i) => l !== '' || i < best.length - 1), '$ pigeon run pipelines/live.yaml'));
      const shot = artifact('progress.png');
      await page.locator('.win').screenshot({ path: shot.path });
      shot.publish();
    } finally {
      await browser.close();
    }
    assert.match(plain(r.out), /run \S+: succeeded, 3\/3 nodes succeeded in [\d.]+m?s; [\d,]+ rows/, 'the summary follows');

    const noColor = await onTty(['run', 'p.yaml'], t.dir, { NO_COLOR: '1' });
    assert.equal(noColor.code, 0);
    assert.doesNotMatch(noColor.out, /\x1b\[(3\d|1|2|22)m/, 'NO_COLOR: no colours');
    assert.match(noColor.out, /\x1b\[\d+A/, 'but still live');

    const quiet = await onTty(['run', 'p.yaml', '--quiet'], t.dir);
    assert.equal(quiet.code, 0);
    assert.doesNotMatch(quiet.out, /\x1b\[\d+A/, '--quiet: no live block');
    assert.doesNotMatch(plain(quiet.out), /started/, '--quiet: no info lines');
    assert.match(plain(quiet.out), /3\/3 nodes succeeded/);

    const piped = await pigeon(['run', 'p.yaml', '--progress', '1'], { cwd: t.dir });
    assert.equal(piped.code, 0);
    assert.doesNotMatch(piped.stdout + piped.stderr, /\x1b/, 'piped: no escapes');
    assert.match(piped.stderr, /orders: started/);
  } finally {
    t.cleanup();
  }
});

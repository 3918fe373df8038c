#!/usr/bin/env node
// Runs every compiled test file with node's test runner. Node 20's --test takes no globs, so list them here.
// Test servers: a file that needs some names them in a leading comment line, `// services: hive, s3`
// (scripts/test-services.js). Each needed server is started once, serially, before the tests; its endpoints reach
// the tests as PIGEON_TEST_* variables; the servers this run started are stopped at the end, also after a failure
// or Ctrl-C, unless PIGEON_KEEP_SERVICES=1 (then a later run reuses them).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { ensureServices } from './services.js';
import { SERVICE_NAMES, TestServices, servicesOf } from './test-services.js';

function find(dir) {
  let out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(find(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const only = process.argv.slice(2);
let files = find('dist/test').filter((f) => only.length === 0 || only.some((o) => f.includes(o))).sort();
if (files.length === 0) {
  console.error('no test files found under dist/test');
  process.exit(1);
}

const needs = new Map(); // service -> files that need it
try {
  for (const f of files) for (const s of servicesOf(f)) needs.set(s, [...(needs.get(s) ?? []), f]);
} catch (err) {
  console.error(err.message);
  process.exit(2);
}

const services = new TestServices();
let child = null;
let interrupted = null;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = sig;
    console.error(`\n${sig}: stopping the tests and the test servers this run started…`);
    services.signal(sig);
    child?.kill(sig);
  });
}

let code = 0;
try {
  await ensureServices();
  const failed = [];
  for (const name of SERVICE_NAMES.filter((n) => needs.has(n))) {
    if (interrupted) break;
    if (!(await services.start(name))) failed.push(name);
  }
  if (failed.length > 0 && !interrupted) {
    const skipped = new Set(failed.flatMap((s) => needs.get(s)));
    console.error(`test servers that did not start: ${failed.join(', ')}; not running ${[...skipped].join(', ')}`);
    files = files.filter((f) => !skipped.has(f));
    code = 1;
  }
  if (!interrupted && files.length > 0) {
    child = spawn(process.execPath, ['--test', '--test-concurrency=1', ...files], {
      stdio: 'inherit',
      env: { ...process.env, ...services.env },
    });
    const status = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
    if (status !== 0) {
      code = status;
      if (!interrupted) await services.printLogs();
    }
  }
} finally {
  if (process.env.PIGEON_KEEP_SERVICES === '1') {
    if (services.started.length > 0) {
      console.error(`PIGEON_KEEP_SERVICES=1: left running ${services.started.join(', ')} ` +
        `(stop: node scripts/test-services.js stop)`);
    }
  } else if (!(await services.stopStarted())) {
    code ||= 1;
  }
  if (services.reused.length > 0) {
    console.error(`test servers found running and left running: ${services.reused.join(', ')} ` +
      `(stop: node scripts/test-services.js stop)`);
  }
}
if (interrupted) code = interrupted === 'SIGINT' ? 130 : 143;
process.exit(code);

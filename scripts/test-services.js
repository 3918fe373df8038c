#!/usr/bin/env node
// pigeon's own test servers (scripts/services/<name>.sh) for the test runner: which ones the selected test files
// need (a `// services: hive, s3` line in a file's leading comments), starting each once, their endpoints as
// PIGEON_TEST_* variables, and stopping at the end the ones this run started.
//
//   node scripts/test-services.js start NAME...     start them (serially) and print their PIGEON_TEST_* lines
//   node scripts/test-services.js stop [NAME...]    stop them (default: all)
//   node scripts/test-services.js status [NAME...]
import { readFileSync, readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPTS_DIR = fileURLToPath(new URL('./services/', import.meta.url));

/** Every service with a script, in the order they are started. */
export const SERVICE_NAMES = readdirSync(SCRIPTS_DIR)
  .filter((f) => f.endsWith('.sh') && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();

/** `PIGEON_TEST_HIVE` for `hive`, `PIGEON_TEST_SPARK_THRIFT` for `spark-thrift`. */
export function endpointVar(name) {
  return `PIGEON_TEST_${name.toUpperCase().replaceAll('-', '_')}`;
}

/**
 * The services a compiled test file declares in its leading comment lines (`// services: hive, s3`). tsc keeps
 * comments, so the line reaches dist/. Unknown names throw: a typo must not silently skip a server.
 */
export function servicesOf(file) {
  const out = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#!')) continue;
    if (!t.startsWith('//')) break;
    const m = /^\/\/\s*services:(.*)$/.exec(t);
    if (!m) continue;
    for (const name of m[1].split(/[\s,]+/).filter(Boolean)) {
      if (!SERVICE_NAMES.includes(name)) throw new Error(`${file}: unknown service '${name}' (known: ${SERVICE_NAMES.join(', ')})`);
      if (!out.includes(name)) out.push(name);
    }
  }
  return out;
}

/** Parses the PIGEON_TEST_* lines a script prints on stdout. */
export function parseEndpointLines(text) {
  const env = {};
  for (const line of text.split('\n')) {
    const m = /^(PIGEON_TEST_[A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return env;
}

/**
 * Starts and stops test servers for one test run. A server that already runs (a manual start, an earlier run with
 * PIGEON_KEEP_SERVICES=1, a test file run alone) is reused and left running; one whose PIGEON_TEST_<NAME> is set in
 * the environment is taken as an outside server and never touched.
 */
export class TestServices {
  /** Services this run started, in start order: the ones to stop. */
  started = [];
  /** Services that were running already: reused and left running. */
  reused = [];
  /** PIGEON_TEST_* variables of every service made available. */
  env = {};
  #child = null;

  /** Runs `scripts/services/<name>.sh <command>`: stderr to ours, stdout collected. */
  run(name, command) {
    return new Promise((resolve) => {
      const child = spawn('bash', [`${SCRIPTS_DIR}${name}.sh`, command], { stdio: ['ignore', 'pipe', 'inherit'] });
      this.#child = child;
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (s) => (stdout += s));
      child.on('error', (err) => {
        console.error(`[${name}] ${err.message}`);
        resolve({ code: 1, stdout });
      });
      child.on('close', (code, signal) => {
        this.#child = null;
        resolve({ code: code ?? (signal ? 128 : 1), stdout });
      });
    });
  }

  /** Passes a signal on to the script that is running now (a terminal's Ctrl-C reaches it anyway). */
  signal(sig) {
    this.#child?.kill(sig);
  }

  /** Makes one service available; false when it could not be started. */
  async start(name) {
    const key = endpointVar(name);
    if (process.env[key]) {
      console.error(`[${name}] using ${key}=${process.env[key]} from the environment`);
      for (const [k, v] of Object.entries(process.env)) if (k === key || k.startsWith(`${key}_`)) this.env[k] = v;
      return true;
    }
    const status = await this.run(name, 'status');
    // status 1: not running, so this run starts it and stops it; 0 (running) and 3 (starting) belong to someone else
    if (status.code === 1) this.started.push(name);
    else this.reused.push(name);
    const started = Date.now();
    const r = await this.run(name, 'start');
    if (r.code !== 0) return false;
    Object.assign(this.env, parseEndpointLines(r.stdout));
    if (status.code === 1) console.error(`[${name}] started in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return true;
  }

  /** The end of each server's log, for a run whose tests failed: what the server saw is half of the story. */
  async printLogs() {
    for (const name of [...this.started, ...this.reused]) {
      const r = await this.run(name, 'logs');
      if (r.stdout.trim() === '') continue;
      console.error(`--- [${name}] the last lines of its log ---`);
      console.error(r.stdout.trimEnd());
    }
  }

  /** Stops what this run started, newest first; keeps going when one stop fails. */
  async stopStarted() {
    let ok = true;
    for (const name of [...this.started].reverse()) {
      if ((await this.run(name, 'stop')).code !== 0) ok = false;
    }
    this.started = [];
    return ok;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [command, ...args] = process.argv.slice(2);
  const names = args.length > 0 ? args : SERVICE_NAMES;
  const unknown = names.filter((n) => !SERVICE_NAMES.includes(n));
  if (!['start', 'stop', 'status'].includes(command) || unknown.length > 0 || (command === 'start' && args.length === 0)) {
    console.error(`usage: node scripts/test-services.js start NAME... | stop [NAME...] | status [NAME...]\nservices: ${SERVICE_NAMES.join(', ')}`);
    process.exit(2);
  }
  const services = new TestServices();
  let failed = 0;
  for (const name of names) {
    const r = await services.run(name, command);
    process.stdout.write(r.stdout);
    if (r.code !== 0 && !(command === 'status' && args.length === 0)) failed++;
  }
  process.exit(failed > 0 ? 1 : 0);
}

#!/bin/sh
":" //; exec node --max-semi-space-size=4 "$0" -- "$@"
// The line above is read by sh, which runs this file again as node with its flags; node reads it as a string and a
// comment. (`#!/usr/bin/env -S node …` would need an env with -S, which BusyBox, e.g. on Alpine, does not have.)
//
// --max-semi-space-size=4: a sync moves far more bytes through Buffers (socket reads, file reads, driver packets)
// than it allocates in objects, and a Buffer's memory is freed only when a garbage collection finds it dead. With
// V8's default young generation (up to 16 MiB per semi-space) collections are rare and tens of MiB of dead Buffers
// wait for them: a 10M-row PostgreSQL → MySQL sync peaked at 150-165 MiB RSS; with 4 MiB, at 120-135 MiB, in the
// same time (`npm run bench`). Smaller (1-2 MiB) slows MySQL exports, which allocate an object per row.
//
// `--` before the arguments: Node 20 reads `--env-file` anywhere on its command line, even after the script (and exits
// 9 when the file is missing), unless a `--` comes first. pigeon's own `--env-file` must reach pigeon.
import { main } from '../dist/src/cli/main.js';

const args = process.argv.slice(2);
const code = await main(args[0] === '--' ? args.slice(1) : args);
process.exitCode = code;
// The run is over and recorded: nothing may keep the process (a socket to a server that stopped answering, a close
// still waiting for it). Output gets a moment to drain, then the process ends with the run's code.
setTimeout(() => process.exit(code), 2000).unref();

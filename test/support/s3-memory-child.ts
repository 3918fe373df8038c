/**
 * Uploads `mib` MiB of deterministic noise through pigeon's S3Store (5 MiB parts) and measures the Buffers alive
 * meanwhile: a garbage collection before each sample (node --expose-gc), so what is counted is what the upload
 * holds, not what the collector has not reached yet. Prints `{ peakMiB, sha256 }` as JSON.
 * argv: endpoint bucket prefix key mib
 */
import { Readable } from 'node:stream';
import { S3Store } from '../../src/connectors/s3/s3-store.js';
import { noise } from './noise.js';

const [endpoint, bucket, prefix, key, mib] = process.argv.slice(2) as [string, string, string, string, string];
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const store = new S3Store(
  { name: 'child', endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'k', secretAccessKey: 's' }, partSize: 5 * 1024 * 1024, secrets: [] },
  { bucket, prefix },
);
// The SDK loads on the first request: its code is not what is measured.
await store.write(`${key}.warm-up`, Readable.from([Buffer.from('x')]));

const data = noise(Number(mib) * 1024 * 1024);
const body = data.body;
gc();
const base = process.memoryUsage().arrayBuffers;
let peak = base;
const sampler = setInterval(() => {
  gc();
  peak = Math.max(peak, process.memoryUsage().arrayBuffers);
}, 20);
try {
  await store.write(key, body);
} finally {
  clearInterval(sampler);
  store.close();
}
process.stdout.write(`${JSON.stringify({ peakMiB: (peak - base) / 1024 / 1024, sha256: data.sha256() })}\n`);

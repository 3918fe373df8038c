/** The session pool of the ftp and sftp kinds: reuse, dropping what failed or died, idle expiry, closing. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { SessionPool, type PooledSession } from '../../src/connectors/ftp/session-pool.js';

class FakeSession implements PooledSession {
  alive = true;
  closed = false;
  destroyed = false;
  constructor(readonly id: number) {}
  async close(): Promise<void> {
    this.closed = true;
    this.alive = false;
  }
  destroy(): void {
    this.destroyed = true;
    this.alive = false;
  }
}

function pool(options: { keepIdle?: number; idleMs?: number } = {}) {
  const made: FakeSession[] = [];
  const p = new SessionPool<FakeSession>({
    connect: async () => {
      const s = new FakeSession(made.length + 1);
      made.push(s);
      return s;
    },
    keepIdle: options.keepIdle ?? 2,
    idleMs: options.idleMs ?? 60_000,
  });
  return { p, made };
}

describe('session pool', () => {
  test('a released session is reused; concurrent work gets sessions of its own', async () => {
    const { p, made } = pool();
    await p.use(async () => {});
    await p.use(async () => {});
    assert.equal(made.length, 1, 'the second use reused the first session');
    const [a, b] = await Promise.all([p.acquire(), p.acquire()]);
    assert.notEqual(a, b, 'one transfer per session');
    p.release(a);
    p.release(b);
    await p.close();
    assert.ok(made.every((s) => s.closed || s.destroyed), 'close ends every session');
  });

  test('work that fails ends its session; a session that died while idle is not handed out', async () => {
    const { p, made } = pool();
    await assert.rejects(p.use(async () => Promise.reject(new Error('transfer broke'))), /transfer broke/);
    assert.equal(made[0]!.destroyed, true);
    await p.use(async () => {});
    made[1]!.alive = false;
    const s = await p.acquire();
    assert.equal(s.id, 3, 'a new session replaces the dead one');
    p.release(s);
    await p.close();
  });

  test('at most keepIdle sessions wait, each for idleMs', async () => {
    const { p, made } = pool({ keepIdle: 1, idleMs: 20 });
    const [a, b] = await Promise.all([p.acquire(), p.acquire()]);
    p.release(a);
    p.release(b);
    assert.equal(made[1]!.closed, true, 'the second idle session is closed at once');
    await sleep(60);
    assert.equal(made[0]!.closed, true, 'the first after idleMs');
    await p.close();
  });

  test('a closed pool ends busy sessions and refuses work', async () => {
    const { p, made } = pool();
    const busy = await p.acquire();
    await p.close();
    assert.equal(made[0]!.destroyed, true);
    p.release(busy);
    await assert.rejects(p.acquire(), /closed/);
  });
});

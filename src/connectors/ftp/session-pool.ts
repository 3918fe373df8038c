/** One logged-in session of a remote file server (an FTP control connection, an SSH connection with SFTP). */
export interface PooledSession {
  /** False once the server or the network ended it: such a session is never handed out again. */
  readonly alive: boolean;
  /** Ends the session politely (QUIT, SSH disconnect); never rejects. */
  close(): Promise<void>;
  /** Ends it at once, sockets and all: what a transfer in an unknown state gets. */
  destroy(): void;
}

export interface SessionPoolOptions<S extends PooledSession> {
  /** Opens and logs in a new session. */
  readonly connect: (signal?: AbortSignal) => Promise<S>;
  /** Idle sessions kept for reuse at most. */
  readonly keepIdle: number;
  /** An idle session is closed after this long unused (servers end idle sessions on their own anyway). */
  readonly idleMs: number;
}

/**
 * Sessions of one connection, opened as work needs them and reused: FTP runs one transfer per control connection,
 * so every concurrent operation (a chunk being read, a file being written) holds a session of its own.
 *
 * The pool does not cap the sessions open at once: the runtime's `max_connections` bounds the nodes using the
 * connection, and one node holds at most two (an append reads the old file while it writes the new one). A cap here
 * that made the second wait for a session the first holds would deadlock.
 */
export class SessionPool<S extends PooledSession> {
  readonly #options: SessionPoolOptions<S>;
  readonly #idle: { session: S; timer: NodeJS.Timeout }[] = [];
  readonly #busy = new Set<S>();
  #closed = false;

  constructor(options: SessionPoolOptions<S>) {
    this.#options = options;
  }

  /** An idle session that is still alive, or a new one. */
  async acquire(signal?: AbortSignal): Promise<S> {
    if (this.#closed) throw new Error('the connection is closed');
    for (let idle = this.#idle.pop(); idle; idle = this.#idle.pop()) {
      clearTimeout(idle.timer);
      if (idle.session.alive) {
        this.#busy.add(idle.session);
        return idle.session;
      }
      idle.session.destroy();
    }
    const session = await this.#options.connect(signal);
    if (this.#closed) {
      await session.close();
      throw new Error('the connection is closed');
    }
    this.#busy.add(session);
    return session;
  }

  /** Gives a session back: `healthy` false (a failed or aborted transfer) ends it instead of keeping it. */
  release(session: S, healthy = true): void {
    this.#busy.delete(session);
    if (!healthy || !session.alive || this.#closed || this.#idle.length >= this.#options.keepIdle) {
      if (healthy && session.alive) void session.close();
      else session.destroy();
      return;
    }
    const entry = {
      session,
      timer: setTimeout(() => {
        const i = this.#idle.indexOf(entry);
        if (i >= 0) this.#idle.splice(i, 1);
        void session.close();
      }, this.#options.idleMs),
    };
    entry.timer.unref();
    this.#idle.push(entry);
  }

  /** Runs `work` on a session; a failure of `work` ends the session (its state is not known). */
  async use<T>(work: (session: S) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const session = await this.acquire(signal);
    let healthy = false;
    try {
      const result = await work(session);
      healthy = true;
      return result;
    } finally {
      this.release(session, healthy);
    }
  }

  /** Closes idle sessions and ends busy ones (their work fails); the pool refuses work afterwards. */
  async close(): Promise<void> {
    this.#closed = true;
    const idle = this.#idle.splice(0);
    for (const { timer } of idle) clearTimeout(timer);
    for (const session of this.#busy) session.destroy();
    this.#busy.clear();
    await Promise.all(idle.map(({ session }) => session.close()));
  }
}

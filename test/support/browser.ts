import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { repoRoot } from './paths.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Debian's chromium, installed with apt-get when missing (the tests run as root); never a downloaded build. */
export function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env });
  if (!existsSync(CHROMIUM)) throw new Error(`apt-get installed chromium, but ${CHROMIUM} is not there`);
}

/** A headless chromium with a fresh profile that talks to nothing but the page; `close` removes the profile. */
export async function openBrowser(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  ensureChromium();
  const profile = mkdtempSync(join(tmpdir(), 'pigeon-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1360, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Where a test keeps a screenshot: test-artifacts/<name> (ignored by git). Call `publish` after writing it:
 * with PIGEON_UPDATE_IMAGES=1 it is copied to docs/images/<name>, the README's pictures.
 */
export function artifact(name: string): { path: string; publish: () => void } {
  const dir = join(repoRoot, 'test-artifacts');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  return {
    path,
    publish: () => {
      if (process.env.PIGEON_UPDATE_IMAGES !== '1') return;
      mkdirSync(join(repoRoot, 'docs', 'images'), { recursive: true });
      copyFileSync(path, join(repoRoot, 'docs', 'images', name));
    },
  };
}

// Starts a real reel-node on a free loopback port with its own data dir and
// an uploader account, and stops it again.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const REPO_DIR = resolve(WEB_DIR, '../..');
const BIN = resolve(WEB_DIR, process.env.REEL_NODE_BIN || '../../target/debug/reel-node');

export const USER = 'alice';
export const PASSWORD = 'correct-horse-battery';

export async function startNode() {
  if (!existsSync(BIN)) {
    throw new Error(`no reel-node binary at ${BIN}: run cargo build -p reel-node or set REEL_NODE_BIN`);
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'reel-e2e-'));
  const env = {
    ...process.env,
    REEL_LISTEN: '127.0.0.1:0',
    REEL_DATA_DIR: dataDir,
    REEL_INGEST__ALLOW_PRIVATE_NETWORKS: 'true',
    REEL_NODE_NAME: 'e2e',
    REEL_LOG: process.env.REEL_LOG || 'warn',
  };
  execFileSync(BIN, ['user', 'add', USER], { env, input: `${PASSWORD}\n`, cwd: dataDir });
  const token = execFileSync(BIN, ['token', 'create', USER], { env, cwd: dataDir }).toString().trim();
  const child = spawn(BIN, ['serve'], { env, cwd: dataDir, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const base = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('reel-node did not start within 30 s')), 30_000);
    child.once('exit', (code) => fail(new Error(`reel-node exited with ${code}`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      const m = /listening on (http:\/\/\S+)/.exec(line);
      if (m) ok(m[1]); else fail(new Error(`unexpected first line: ${line}`));
    });
  });
  lines.on('line', () => {}); // keep draining stdout
  return {
    base,
    token,
    async api(path, init = {}) {
      const headers = { authorization: `Bearer ${token}`, ...(init.headers || {}) };
      const r = await fetch(base + path, { ...init, headers });
      const body = await r.json().catch(() => ({}));
      return { status: r.status, body };
    },
    async stop() {
      const exited = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((ok) => setTimeout(ok, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls a video until it is ready (or fails the test), bounded by `ms`. */
export async function waitReady(node, id, ms = 120_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const { body } = await node.api(`/api/videos/${id}`);
    if (body.status === 'ready') return body;
    if (body.status === 'failed') throw new Error(`video failed: ${body.error}`);
    if (Date.now() > deadline) throw new Error(`video ${id} not ready in ${ms} ms: ${JSON.stringify(body)}`);
    await new Promise((ok) => setTimeout(ok, 300));
  }
}

/** Imports `url` through the JSON API; returns the video id. */
export async function importUrl(node, title, url) {
  const r = await node.api('/api/videos', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title, source_url: url }),
  });
  if (r.status !== 202) throw new Error(`import refused: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id;
}

/** Attaches a subtitle file through the API. */
export async function addSubtitles(node, id, lang, label, text) {
  const fd = new FormData();
  fd.append('lang', lang);
  fd.append('label', label);
  fd.append('file', new Blob([text]), 'subs.srt');
  const r = await node.api(`/api/videos/${id}/subtitles`, { method: 'POST', body: fd });
  if (r.status !== 201) throw new Error(`subtitles refused: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

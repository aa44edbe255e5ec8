// Starts a real reel-balancer (the sample config, edge cache and admission
// on) on free loopback ports in front of the given nodes, and stops it.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { REPO_DIR } from './node.mjs';

const NODE_BIN = resolve(REPO_DIR, 'app-node/web', process.env.REEL_NODE_BIN || '../../target/debug/reel-node');
const BIN = process.env.REEL_BALANCER_BIN || join(dirname(NODE_BIN), 'reel-balancer');

async function freePort() {
  const s = createServer();
  await new Promise((ok) => s.listen(0, '127.0.0.1', ok));
  const { port } = s.address();
  await new Promise((ok) => s.close(ok));
  return port;
}

/** `nodes`: base URLs (`http://127.0.0.1:PORT`) of running nodes. */
export async function startBalancer(nodes) {
  if (!existsSync(BIN)) throw new Error(`no reel-balancer binary at ${BIN}: build the workspace`);
  const dir = mkdtempSync(join(tmpdir(), 'reel-lb-'));
  const [port, admin] = [await freePort(), await freePort()];
  const args = ['--config', join(REPO_DIR, 'configs/balancer.toml'),
    '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${admin}`,
    ...nodes.flatMap((n) => ['--backend', n.replace('http://', '')])];
  const child = spawn(BIN, args, {
    env: { ...process.env, REEL_UPGRADE_SOCK: join(dir, 'upgrade.sock'), REEL_LOG: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
    if (r && r.ok) break;
    if (child.exitCode !== null) throw new Error(`reel-balancer exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('reel-balancer not ready within 30 s');
    await new Promise((ok) => setTimeout(ok, 100));
  }
  return {
    base,
    async stop() {
      const exited = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((ok) => setTimeout(ok, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

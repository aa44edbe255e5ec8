// Test media made with ffmpeg at test time, and a loopback server for it.
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

/**
 * A testsrc2 clip with a sine tone; `srt` (text) is muxed as an English
 * mov_text track when given.
 */
export function makeClip(dir, name, { w, h, secs, srt }) {
  const out = join(dir, name);
  const args = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${w}x${h}:rate=30:duration=${secs}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${secs}`];
  if (srt) {
    const srtPath = join(dir, `${name}.srt`);
    writeFileSync(srtPath, srt);
    args.push('-i', srtPath, '-map', '0:v', '-map', '1:a', '-map', '2:s',
      '-c:s', 'mov_text', '-metadata:s:s:0', 'language=eng');
  }
  args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-t', String(secs), out);
  execFileSync('ffmpeg', args);
  return out;
}

/** Serves the files of a temp dir on 127.0.0.1; `url(name)` gives addresses. */
export async function mediaServer() {
  const dir = mkdtempSync(join(tmpdir(), 'reel-src-'));
  const server = createServer((req, res) => {
    const file = join(dir, basename(decodeURIComponent(new URL(req.url, 'http://x').pathname)));
    try {
      const size = statSync(file).size;
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': size });
      createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return {
    dir,
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    async close() {
      await new Promise((ok) => server.close(ok));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

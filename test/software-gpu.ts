/**
 * A software GPU for the WebGPU tests, installed by npm: SwiftShader's Vulkan driver and its own Vulkan
 * loader, which ship inside the devDependency @sparticuz/chromium (bin/swiftshader.tar.br). It is unpacked
 * once per version and user into <tmpdir>/fugaku-swiftshader-<version>-<uid>/ (staged, then renamed into
 * place, so a half-written folder is never used and parallel test processes do not collide), and the
 * WebGPU backend loads it through FUGAKU_VULKAN_DIR. $FUGAKU_VULKAN_DIR, when set, names another one
 * (e.g. Mesa lavapipe); FUGAKU_TEST_GPU=system uses the machine's own adapter instead.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

/** The files of a ustar archive (regular files only), as name → bytes. */
function untar(tar: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let off = 0;
  while (off + 512 <= tar.length) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const field = (a: number, n: number) => header.subarray(a, a + n).toString('latin1').replace(/\0.*$/s, '');
    const name = (field(345, 155) ? field(345, 155) + '/' : '') + field(0, 100);
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1);
    off += 512;
    if (type === '0' || type === '') files.set(name, tar.subarray(off, off + size));
    off += Math.ceil(size / 512) * 512;
  }
  return files;
}

/**
 * The folder to pass as FUGAKU_VULKAN_DIR for the tests, or null where the machine's own adapter is used
 * (FUGAKU_TEST_GPU=system, or a platform SwiftShader's npm build does not cover).
 */
export function softwareVulkanDir(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.FUGAKU_TEST_GPU === 'system') return null;
  if (env.FUGAKU_VULKAN_DIR) return env.FUGAKU_VULKAN_DIR;
  if (process.platform !== 'linux' || process.arch !== 'x64') return null;
  let dir = path.dirname(fileURLToPath(import.meta.resolve('@sparticuz/chromium')));
  while (!fs.existsSync(path.join(dir, 'bin', 'swiftshader.tar.br')) && dir !== path.dirname(dir)) dir = path.dirname(dir);
  const pkgJson = path.join(dir, 'package.json');
  const version = (JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  const home = path.join(os.tmpdir(), `fugaku-swiftshader-${version}-${os.userInfo().uid}`);
  if (fs.existsSync(path.join(home, 'libvulkan.so.1'))) return home;
  const archive = path.join(path.dirname(pkgJson), 'bin', 'swiftshader.tar.br');
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'fugaku-swiftshader-staging-'));
  for (const [name, bytes] of untar(brotliDecompressSync(fs.readFileSync(archive)))) {
    fs.writeFileSync(path.join(staging, path.basename(name)), bytes, { mode: 0o755 });
  }
  if (!fs.existsSync(path.join(staging, 'libvulkan.so.1')) || !fs.existsSync(path.join(staging, 'vk_swiftshader_icd.json'))) {
    throw new Error(`${archive} did not hold libvulkan.so.1 and vk_swiftshader_icd.json`);
  }
  try {
    fs.renameSync(staging, home);
  } catch (e) {
    // Another process won the race: its folder is complete (renames are atomic).
    fs.rmSync(staging, { recursive: true, force: true });
    if (!fs.existsSync(path.join(home, 'libvulkan.so.1'))) throw e;
  }
  return home;
}

/** The environment for a child process (the CLI, the server) that runs on the test GPU. */
export function gpuTestEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const dir = softwareVulkanDir(env);
  return dir === null ? { ...env } : { ...env, FUGAKU_VULKAN_DIR: dir };
}

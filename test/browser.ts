/**
 * A headless Chromium for the page tests, found without a system install:
 *   1. CHROME_PATH or FUGAKU_CHROMIUM, when set (it must exist: a wrong path is an error, not a fallback);
 *   2. a system Chromium/Chrome (chromium, chromium-browser, google-chrome, google-chrome-stable on PATH or in
 *      the usual places);
 *   3. the headless Chromium inside the npm devDependency @sparticuz/chromium (Linux x64), unpacked once per
 *      version and user to <tmpdir>/fugaku-sparticuz-chromium-<version>-<uid>/ (about 220 MB).
 * Neither found: an error that says what to install. The browser gets a fontconfig file that adds Noto Sans JP
 * (from the npm devDependency @fontsource/noto-sans-jp) to the system fonts, so Japanese renders as glyphs on a
 * machine with no CJK font.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { inflateSync } from 'node:zlib';
import { chromium, type Browser } from 'playwright-core';

const execFileAsync = promisify(execFile);

export type BrowserSource = 'env' | 'system' | 'npm';
export interface FoundBrowser {
  executablePath: string;
  source: BrowserSource;
  /** Extra fontconfig font directories that come with the browser (the npm one ships Open Sans). */
  fontDirs: string[];
}

const SYSTEM_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
const SYSTEM_PATHS = [
  '/snap/bin/chromium',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
];
const WHAT_TO_INSTALL =
  'run `npm install` (the devDependency @sparticuz/chromium brings a headless Chromium for Linux x64), ' +
  'or install Chromium/Chrome (Debian: apt-get install chromium), or set CHROME_PATH to a Chromium binary';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A system Chromium/Chrome: the names on PATH first, then the usual install places. */
export function systemChromium(envPath = process.env.PATH ?? ''): string | undefined {
  const dirs = envPath.split(path.delimiter).filter(Boolean);
  for (const name of SYSTEM_NAMES) {
    for (const dir of dirs) {
      const file = path.join(dir, name);
      if (isExecutable(file)) return file;
    }
  }
  return SYSTEM_PATHS.find(isExecutable);
}

/** Resolves an installed package's file URL, or undefined when the package is not installed. */
function resolvePackage(specifier: string): string | undefined {
  try {
    return import.meta.resolve(specifier);
  } catch {
    return undefined;
  }
}

/** The package.json of package `name`, found upwards from one of its files. */
function packageJson(file: string, name: string): { name: string; version: string } {
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name: string; version: string };
      if (pkg.name === name) return pkg;
    }
  }
  throw new Error(`no package.json of ${name} above ${file}`);
}

/**
 * The npm Chromium, unpacked once per version. The package unpacks its brotli archives into os.tmpdir(); it runs
 * in a child process whose TMPDIR is a fresh staging folder, which is then renamed into place, so a half-unpacked
 * binary is never found and two processes unpacking at once cannot trip over each other.
 */
async function npmChromium(): Promise<FoundBrowser | undefined> {
  const entry = resolvePackage('@sparticuz/chromium');
  if (entry === undefined || process.platform !== 'linux' || process.arch !== 'x64') return undefined;
  const pkg = packageJson(fileURLToPath(entry), '@sparticuz/chromium');
  // Per user too: the folder is private (mkdtemp's 0700) and /tmp may be shared.
  const home = path.join(os.tmpdir(), `fugaku-sparticuz-chromium-${pkg.version}-${os.userInfo().uid}`);
  const found = { executablePath: path.join(home, 'chromium'), source: 'npm' as const, fontDirs: [path.join(home, 'fonts')] };
  if (existsSync(found.executablePath)) return found;
  const staging = await mkdtemp(`${home}.staging-`);
  try {
    const script = `const { default: c } = await import(${JSON.stringify(entry)}); process.stdout.write(await c.executablePath());`;
    const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, TMPDIR: staging },
    });
    if (stdout !== path.join(staging, 'chromium')) throw new Error(`@sparticuz/chromium unpacked to ${stdout}, expected ${staging}/chromium`);
    try {
      await rename(staging, home);
    } catch (e) {
      // Another process finished first: its copy is complete, use it.
      if (!existsSync(found.executablePath)) throw e;
    }
    return found;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** The browser for the page tests (see the module comment); throws, saying what to install, when there is none. */
export async function findBrowser(env: NodeJS.ProcessEnv = process.env): Promise<FoundBrowser> {
  for (const name of ['CHROME_PATH', 'FUGAKU_CHROMIUM']) {
    const file = env[name];
    if (file) {
      if (!isExecutable(file)) throw new Error(`${name}=${file} is not an executable file; point it at a Chromium/Chrome binary or unset it`);
      return { executablePath: file, source: 'env', fontDirs: [] };
    }
  }
  const system = systemChromium(env.PATH);
  if (system !== undefined) return { executablePath: system, source: 'system', fontDirs: [] };
  const npm = await npmChromium();
  if (npm !== undefined) return npm;
  throw new Error(`No Chromium for the browser tests: none on PATH (${SYSTEM_NAMES.join(', ')}), no CHROME_PATH, and @sparticuz/chromium is not installed or not for ${process.platform}-${process.arch}; ${WHAT_TO_INSTALL}`);
}

/** Decodes a WOFF 1.0 font into the OpenType/TrueType file it wraps (Chromium's fontconfig reads no WOFF). */
export function woffToSfnt(woff: Buffer): Buffer {
  if (woff.length < 44 || woff.readUInt32BE(0) !== 0x774f4646) throw new Error('not a WOFF 1.0 font');
  const flavor = woff.readUInt32BE(4);
  const n = woff.readUInt16BE(12);
  const tables: { tag: number; checksum: number; data: Buffer }[] = [];
  for (let i = 0; i < n; i++) {
    const e = 44 + 20 * i;
    const offset = woff.readUInt32BE(e + 4);
    const compLength = woff.readUInt32BE(e + 8);
    const origLength = woff.readUInt32BE(e + 12);
    const raw = woff.subarray(offset, offset + compLength);
    const data = compLength < origLength ? inflateSync(raw) : raw;
    if (data.length !== origLength) throw new Error(`WOFF table ${i}: ${data.length} bytes, expected ${origLength}`);
    tables.push({ tag: woff.readUInt32BE(e), checksum: woff.readUInt32BE(e + 16), data });
  }
  let entrySelector = 0;
  while (2 ** (entrySelector + 1) <= n) entrySelector++;
  const searchRange = 16 * 2 ** entrySelector;
  const header = Buffer.alloc(12 + 16 * n);
  header.writeUInt32BE(flavor, 0);
  header.writeUInt16BE(n, 4);
  header.writeUInt16BE(searchRange, 6);
  header.writeUInt16BE(entrySelector, 8);
  header.writeUInt16BE(16 * n - searchRange, 10);
  const parts: Buffer[] = [header];
  let at = header.length;
  tables.forEach((t, i) => {
    header.writeUInt32BE(t.tag, 12 + 16 * i);
    header.writeUInt32BE(t.checksum, 16 + 16 * i);
    header.writeUInt32BE(at, 20 + 16 * i);
    header.writeUInt32BE(t.data.length, 24 + 16 * i);
    const pad = (4 - (t.data.length % 4)) % 4;
    parts.push(t.data, Buffer.alloc(pad));
    at += t.data.length + pad;
  });
  return Buffer.concat(parts);
}

/** Noto Sans JP (regular, the whole Japanese set) from @fontsource/noto-sans-jp, as a file fontconfig can read. */
async function writeJapaneseFont(dir: string): Promise<void> {
  const licence = resolvePackage('@fontsource/noto-sans-jp/LICENSE');
  if (licence === undefined) throw new Error(`@fontsource/noto-sans-jp is not installed (a devDependency: run \`npm install\`)`);
  const woff = await readFile(fileURLToPath(new URL('./files/noto-sans-jp-japanese-400-normal.woff', licence)));
  await writeFile(path.join(dir, 'NotoSansJP-Regular.otf'), woffToSfnt(woff));
}

/** A fontconfig file: the system's configuration (where there is one), the browser's fonts, Noto Sans JP. */
function fontsConf(fontDir: string, extraDirs: string[]): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
${[...extraDirs, fontDir].map((d) => `  <dir>${esc(d)}</dir>`).join('\n')}
  <cachedir>${esc(path.join(fontDir, 'cache'))}</cachedir>
  <!-- The fontsource file names its family "Noto Sans JP Thin" (its weight is regular): the page asks for "Noto Sans JP". -->
  <match target="scan">
    <test name="family"><string>Noto Sans JP Thin</string></test>
    <edit name="family" mode="assign" binding="same"><string>Noto Sans JP</string></edit>
  </match>
</fontconfig>
`;
}

export interface LaunchedBrowser {
  browser: Browser;
  found: FoundBrowser;
  /** Closes the browser and removes its font folder. */
  close(): Promise<void>;
}

/** Finds a browser (findBrowser) and launches it headless with Noto Sans JP among its fonts. */
export async function launchBrowser(): Promise<LaunchedBrowser> {
  const found = await findBrowser();
  const fontDir = await mkdtemp(path.join(os.tmpdir(), 'fugaku-browser-fonts-'));
  let browser: Browser;
  try {
    await writeJapaneseFont(fontDir);
    const conf = path.join(fontDir, 'fonts.conf');
    await writeFile(conf, fontsConf(fontDir, found.fontDirs.filter((d) => existsSync(d))));
    browser = await chromium
      .launch({ executablePath: found.executablePath, args: ['--no-sandbox'], env: { ...process.env, FONTCONFIG_FILE: conf } })
      .catch((e: Error) => {
        throw new Error(`Could not launch the ${found.source} Chromium ${found.executablePath}: ${e.message}`, { cause: e });
      });
  } catch (e) {
    await rm(fontDir, { recursive: true, force: true });
    throw e;
  }
  return {
    browser,
    found,
    async close() {
      await browser.close();
      await rm(fontDir, { recursive: true, force: true });
    },
  };
}

/**
 * A headless Chromium for the page tests, found without any setup step beyond `npm install`:
 *  1. $FUGAKU_CHROMIUM (or $CHROME_PATH), when set;
 *  2. a system Chromium/Chrome (Debian's chromium, chromium-browser, google-chrome[-stable]);
 *  3. otherwise the headless Chromium that ships inside the npm package @sparticuz/chromium (a
 *     devDependency: its brotli archive is unpacked to the OS temp folder on first use).
 * The npm browser has no CJK fonts, so the page tests load a Japanese font from the npm package
 * @fontsource/noto-sans-jp (`japaneseFontCss`), on any browser, for the same glyphs everywhere.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

export interface FoundBrowser {
  executablePath: string;
  args: string[];
  /** Where it came from, for the test output. */
  source: string;
}

const SYSTEM_BROWSERS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable', '/snap/bin/chromium'];

export async function findChromium(env: NodeJS.ProcessEnv = process.env): Promise<FoundBrowser> {
  const named = env.FUGAKU_CHROMIUM ?? env.CHROME_PATH;
  if (named) {
    if (!existsSync(named)) throw new Error(`FUGAKU_CHROMIUM/CHROME_PATH names ${named}, which does not exist`);
    return { executablePath: named, args: ['--no-sandbox'], source: `${named} (from the environment)` };
  }
  const system = SYSTEM_BROWSERS.find((p) => existsSync(p));
  if (system) return { executablePath: system, args: ['--no-sandbox'], source: `${system} (system)` };
  let mod: { default: { executablePath(): Promise<string>; args: string[] } };
  try {
    mod = await import('@sparticuz/chromium');
  } catch (e) {
    throw new Error(
      `no Chromium found: none of ${SYSTEM_BROWSERS.join(', ')} exists and the npm package @sparticuz/chromium does not load (${String(e)}); ` +
        'run `npm install` (it is a devDependency), install a system Chromium (Debian: apt-get install chromium), or set FUGAKU_CHROMIUM',
    );
  }
  const exe = await mod.default.executablePath();
  return { executablePath: exe, args: mod.default.args, source: `${exe} (npm @sparticuz/chromium)` };
}

/**
 * CSS that defines the font family `FugakuTestJP` (Noto Sans JP, weight 400, every unicode-range
 * subset of @fontsource/noto-sans-jp inlined as data: URLs, ~4 MB) and uses it for the whole page.
 * Pages with a CSP (the chat page's default-src 'none') need the browser context's bypassCSP for it.
 */
export function japaneseFontCss(): string {
  const require = createRequire(import.meta.url);
  const dir = path.dirname(require.resolve('@fontsource/noto-sans-jp/package.json'));
  const css = readFileSync(path.join(dir, '400.css'), 'utf8')
    .replace(/font-family: '[^']+'/g, "font-family: 'FugakuTestJP'")
    .replace(/,\s*url\(\.\/files\/[^)]+\.woff\)\s*format\('woff'\)/g, '')
    .replace(/url\(\.\/files\/([^)]+\.woff2)\)/g, (_m, f: string) => `url(data:font/woff2;base64,${readFileSync(path.join(dir, 'files', f)).toString('base64')})`);
  return `${css}\nhtml, body, textarea, input, button { font-family: 'FugakuTestJP', sans-serif !important; }\n`;
}

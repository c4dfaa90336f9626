/**
 * The chat page: the safe Markdown renderer (unit tests), and the real page in headless Chromium
 * (playwright-core + the Chromium that test/browser.ts finds: a system one, else the npm one) against an
 * in-process server: Japanese input, an IME composition Enter does not send, a streamed answer, multi-turn
 * history, the Stop button cancels the request on the server, Japanese text in the page's fonts renders as
 * glyphs (not tofu boxes). Saves a screenshot to test-artifacts/chat-page.png (and to docs/img/chat-page.png
 * when UPDATE_DOCS_SCREENSHOT=1), and the glyph check's to <tmpdir>/fugaku-chat-page-glyphs.png.
 * Without Chromium this test FAILS (it is part of the contract), it does not skip.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, copyFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import { AutoTokenizer } from '../src/tokenizer/index.js';
import { AutoModelForCausalLM } from '../src/generation/causal-lm.js';
import { createServer, listen, renderMarkdown, type ListeningServer } from '../src/server/index.js';
import { modelDirs, repoRoot } from './helpers.js';
import { launchBrowser, type LaunchedBrowser } from './browser.js';

// Browser globals inside page functions (this project compiles without the DOM lib).
declare const document: any;
declare const window: any;

test('renderMarkdown escapes HTML first, then renders code blocks, inline code, bold, lists, paragraphs', () => {
  const evil = '<img src=x onerror="alert(1)"> & <script>alert("x")</script>';
  const html = renderMarkdown(evil);
  assert.ok(!/<img|<script/i.test(html), html);
  assert.equal(html, '<p>&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</p>');
  assert.equal(renderMarkdown('**太字**と`<b>コード</b>`'), '<p><strong>太字</strong>と<code>&lt;b&gt;コード&lt;/b&gt;</code></p>');
  assert.equal(renderMarkdown('手順:\n- 一つ目\n- **二つ目**\n\n1. 甲\n2. 乙'), '<p>手順:</p><ul><li>一つ目</li><li><strong>二つ目</strong></li></ul><ol><li>甲</li><li>乙</li></ol>');
  assert.equal(renderMarkdown('前\n```js"><script>\nconst a = "<b>";\n```\n後'), '<p>前</p><pre><code class="language-js">const a = &quot;&lt;b&gt;&quot;;</code></pre><p>後</p>');
  assert.equal(renderMarkdown('一行目\n二行目\n\n次の段落'), '<p>一行目<br>二行目</p><p>次の段落</p>');
  assert.equal(renderMarkdown('```\n未完の **コード'), '<pre><code>未完の **コード</code></pre>', 'an unclosed fence (mid-stream) is code');
  assert.ok(!renderMarkdown('[x](javascript:alert(1)) <a href="javascript:1">').includes('<a'), 'no links at all');
});

let server: ListeningServer;
let launched: Promise<LaunchedBrowser> | undefined;
/** The browser, launched by the first test that needs it (a missing browser fails that test, saying what to install). */
async function browser(): Promise<Browser> {
  launched ??= launchBrowser();
  return (await launched).browser;
}
/** Holds the server's step loop while closed (see yieldToEventLoop in before()). */
const gate = {
  closed: false,
  opened: Promise.resolve(),
  release: () => {},
  close(): void {
    this.closed = true;
    this.opened = new Promise<void>((r) => { this.release = r; });
  },
  open(): void {
    this.closed = false;
    this.release();
  },
};
/** Sequences the server finished for `reason`, from its /metrics. */
async function finishedCount(reason: string): Promise<number> {
  const m = await (await fetch(`${server.url}/metrics`)).text();
  const hit = new RegExp(`^fugaku_sequences_finished_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(m);
  return hit ? Number(hit[1]) : 0;
}

before(async () => {
  const dir = modelDirs['tiny-ja-demo'];
  const tokenizer = await AutoTokenizer.fromPretrained(dir);
  const model = await AutoModelForCausalLM.fromPretrained(dir, { dtype: 'f32' });
  // Steps are paced (25 ms between tokens), and the test can hold the loop at the gate between two
  // steps: then no answer can finish while it checks one is still running and presses Stop.
  const yieldToEventLoop = async () => {
    await new Promise((r) => setTimeout(r, 25));
    while (gate.closed) await gate.opened;
  };
  const { app, engine } = createServer({ model, tokenizer, yieldToEventLoop });
  server = await listen(app, engine, { host: '127.0.0.1', port: 0 });
});

after(async () => {
  gate.open();
  await launched?.then((l) => l.close(), () => {});
  await server.shutdown(500);
});

test('chat page in Chromium: Japanese input, IME Enter does not send, streamed answer, history, Stop, screenshot', async () => {
  const page = await (await browser()).newPage({ viewport: { width: 960, height: 720 }, locale: 'ja-JP' });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const bodies: any[] = [];
  page.on('request', (r) => {
    if (r.url().endsWith('/v1/chat/completions')) bodies.push(JSON.parse(r.postData() ?? 'null'));
  });
  const res = await page.goto(server.url + '/');
  assert.equal(res?.status(), 200);
  assert.match(res?.headers()['content-security-policy'] ?? '', /default-src 'none'/);
  await page.waitForFunction(() => document.getElementById('model').textContent.includes('tiny-ja-demo'));

  await page.click('#settings summary');
  await page.fill('#max-tokens', '32');
  await page.click('#settings summary');
  // IME: Enter that confirms a conversion must not send.
  await page.fill('#input', '日本の首都はどこですか？');
  await page.dispatchEvent('#input', 'compositionstart', { data: '' });
  await page.dispatchEvent('#input', 'keydown', { key: 'Enter', code: 'Enter', isComposing: true, bubbles: true, cancelable: true });
  await page.dispatchEvent('#input', 'compositionend', { data: '日本の首都はどこですか？' });
  await page.dispatchEvent('#input', 'keydown', { key: 'Enter', code: 'Enter', isComposing: true, bubbles: true, cancelable: true });
  await page.waitForTimeout(200);
  assert.equal(await page.locator('.msg').count(), 0, 'nothing was sent during IME composition');
  assert.equal(await page.inputValue('#input'), '日本の首都はどこですか？');

  // A real Enter sends; the answer streams in and finishes.
  await page.waitForTimeout(100);
  await page.press('#input', 'Enter');
  await page.waitForSelector('.msg.user');
  assert.equal(await page.locator('.msg.user').first().textContent(), '日本の首都はどこですか？');
  const first = page.locator('.msg.assistant').first();
  await page.waitForFunction(() => document.querySelector('.msg.assistant')?.textContent.length > 0);
  await page.waitForFunction(() => document.querySelector('.msg.assistant')?.getAttribute('data-state') === 'done', undefined, { timeout: 60_000 });
  const answer1 = (await first.textContent()) ?? '';
  assert.ok(answer1.trim().length > 0, 'a non-empty answer');
  assert.equal(bodies[0].stream, true);
  assert.equal(bodies[0].model, 'tiny-ja-demo');

  // Second turn with a long answer: Stop cancels it mid-stream.
  await page.click('#settings summary');
  await page.fill('#max-tokens', '200');
  await page.fill('#temperature', '1');
  await page.click('#settings summary');
  // The tiny model may end an answer early (EOS): ask again until one is still streaming. Once it has
  // streamed a few characters the server's loop is held, so the answer cannot end between the check
  // (the server has finished nothing since it was sent) and the click on Stop.
  let k = 1;
  let running = false;
  for (; k < 6 && !running; k++) {
    const finishedBefore = (await finishedCount('stop')) + (await finishedCount('length'));
    await page.fill('#input', k === 1 ? '長い物語を書いてください。' : 'もっと長く書いてください。');
    await page.click('#send');
    await page.waitForFunction((j: number) => {
      const el = document.querySelectorAll('.msg.assistant')[j];
      return el && (el.getAttribute('data-state') !== 'streaming' || el.textContent.length >= 4);
    }, k);
    gate.close();
    running = (await finishedCount('stop')) + (await finishedCount('length')) === finishedBefore;
    if (!running) {
      gate.open();
      await page.waitForFunction((j: number) => document.querySelectorAll('.msg.assistant')[j]?.getAttribute('data-state') !== 'streaming', k);
      assert.equal(await page.locator('.msg.assistant').nth(k).getAttribute('data-state'), 'done', `answer ${k} ended without an error`);
    }
  }
  k--;
  assert.ok(running, 'one of 5 answers was still streaming after 4 characters');
  const second = page.locator('.msg.assistant').nth(k);
  assert.equal(await second.getAttribute('data-state'), 'streaming');
  assert.equal(await page.isDisabled('#stop'), false);
  await page.click('#stop');
  await page.waitForFunction((j: number) => document.querySelectorAll('.msg.assistant')[j]?.getAttribute('data-state') === 'stopped', k);
  gate.open();
  assert.match((await second.textContent()) ?? '', /停止しました/);
  assert.equal(await page.isDisabled('#send'), false);
  // Multi-turn: the second request carried the first exchange.
  assert.deepEqual(bodies[k].messages.map((m: { role: string }) => m.role), [...Array(k).fill(['user', 'assistant']).flat(), 'user']);
  assert.equal(bodies[k].messages[0].content, '日本の首都はどこですか？');
  assert.equal(bodies[k].max_tokens, 200);
  // The server dropped the cancelled request.
  let m = '';
  for (let i = 0; i < 100; i++) {
    m = await (await fetch(`${server.url}/metrics`)).text();
    if (/^fugaku_running_sequences 0$/m.test(m)) break;
    await new Promise((r) => setTimeout(r, 30));
  }
  assert.match(m, /^fugaku_running_sequences 0$/m);
  assert.match(m, /^fugaku_sequences_finished_total\{reason="aborted"\} 1$/m);

  // Model output is rendered as text, never as HTML (the page's own renderMarkdown).
  const injected = await page.evaluate(() => {
    const div = document.createElement('div');
    div.innerHTML = window.renderMarkdown('<img src=x onerror=alert(1)>**ok**');
    return { imgs: div.querySelectorAll('img').length, strong: div.querySelectorAll('strong').length };
  });
  assert.deepEqual(injected, { imgs: 0, strong: 1 });
  assert.deepEqual(errors, []);

  await page.fill('#input', 'ありがとう！');
  const outDir = path.join(repoRoot, 'test-artifacts');
  mkdirSync(outDir, { recursive: true });
  const shot = path.join(outDir, 'chat-page.png');
  await page.screenshot({ path: shot });
  assert.ok(existsSync(shot));
  // The README's picture is refreshed on request only, so a test run never edits tracked files.
  if (process.env.UPDATE_DOCS_SCREENSHOT === '1') copyFileSync(shot, path.join(repoRoot, 'docs', 'img', 'chat-page.png'));
});

test('chat page fonts: Japanese renders as distinct glyphs, not identical tofu boxes', async () => {
  const page = await (await browser()).newPage({ viewport: { width: 960, height: 240 }, locale: 'ja-JP' });
  await page.goto(server.url + '/');
  const fontFamily: string = await page.evaluate(() => window.getComputedStyle(document.body).fontFamily);
  assert.match(fontFamily, /Noto Sans JP/);
  // Each character alone in a cell of whole pixels, in the page's own font stack. A character no font has is
  // drawn as the same box (or nothing), so such cells are pixel-identical; real glyphs all differ.
  const japanese = [...'日本の首都はどこですか？ありがト'];
  const unassigned = ['\u0378', '\u0379', '\u0380', '\u0381', '\u0382', '\u0383'];
  const cells = (id: string, chars: string[]) =>
    `<div id="${id}">${chars.map((c) => `<span style="display:inline-block;width:40px;height:48px;line-height:48px;text-align:center">${c}</span>`).join('')}</div>`;
  await page.goto('about:blank'); // setContent keeps the document's CSP, which forbids style attributes
  await page.setContent(`<body style="margin:8px;font-size:32px;font-family:${fontFamily.replace(/"/g, "'")}">${cells('ja', japanese)}${cells('none', unassigned)}</body>`);
  const shot = path.join(os.tmpdir(), 'fugaku-chat-page-glyphs.png');
  await page.screenshot({ path: shot });
  const distinct = async (id: string) => {
    const images = await Promise.all((await page.locator(`#${id} span`).all()).map((cell) => cell.screenshot()));
    return new Set(images.map((png) => png.toString('base64'))).size;
  };
  // The control: characters that no font has give one image, so identical boxes would be seen as such.
  assert.equal(await distinct('none'), 1, 'unassigned code points all look the same (tofu)');
  assert.equal(await distinct('ja'), japanese.length,
    `every Japanese character is its own glyph, not a tofu box (a Japanese font is missing; see ${shot})`);
  await page.close();
});

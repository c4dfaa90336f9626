/**
 * The chat page served at `/`: one HTML document, one script (/chat.js) and one stylesheet (/chat.css),
 * all from this file (no CDN, no build step). It talks to /v1/chat/completions with `stream: true`.
 *
 * - Japanese input: Enter sends, Shift+Enter is a newline, and Enter that confirms an IME conversion
 *   (`event.isComposing`, keyCode 229, or right after `compositionend`) never sends.
 * - Streaming output with a Stop button (AbortController; the server cancels the request when the
 *   connection closes). Multi-turn history (what was shown of a stopped answer is kept).
 * - Settings: temperature, top_p, max tokens, system prompt, API key (kept in the page only).
 * - Model output is rendered with `renderMarkdown`: HTML is escaped FIRST, then a tiny Markdown subset
 *   (fenced code blocks, inline code, bold, lists, paragraphs) adds its own tags, so model output can
 *   never inject HTML. The same function runs in Node tests (it is serialized into /chat.js).
 */

/**
 * Safe Markdown subset → HTML. Self-contained (it is shipped to the browser with Function#toString):
 * no references to anything outside its body.
 */
export function renderMarkdown(src: string): string {
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
  const inline = (s: string): string => {
    // s is already escaped. Code spans first (no formatting inside), then **bold**.
    const parts = s.split(/(`[^`\n]+`)/g);
    return parts
      .map((p, i) => (i % 2 === 1 ? `<code>${p.slice(1, -1)}</code>` : p.replace(/\*\*([^*\n][^*\n]*?)\*\*/g, '<strong>$1</strong>')))
      .join('');
  };
  const blocks = (text: string): string => {
    const out: string[] = [];
    const lines = text.split('\n');
    let para: string[] = [];
    let list: { tag: 'ul' | 'ol'; items: string[] } | null = null;
    const flushPara = () => {
      if (para.length > 0) out.push(`<p>${para.map(inline).join('<br>')}</p>`);
      para = [];
    };
    const flushList = () => {
      if (list) out.push(`<${list.tag}>${list.items.map((it) => `<li>${inline(it)}</li>`).join('')}</${list.tag}>`);
      list = null;
    };
    for (const line of lines) {
      const ul = /^\s{0,3}[-*・]\s+(.*)$/.exec(line);
      const ol = /^\s{0,3}\d{1,3}[.)]\s+(.*)$/.exec(line);
      if (ul || ol) {
        flushPara();
        const tag = ul ? 'ul' : 'ol';
        if (!list || list.tag !== tag) {
          flushList();
          list = { tag, items: [] };
        }
        list.items.push((ul ?? ol)![1]);
      } else if (line.trim() === '') {
        flushPara();
        flushList();
      } else {
        flushList();
        para.push(line);
      }
    }
    flushPara();
    flushList();
    return out.join('');
  };
  const escaped = esc(src.replace(/\r\n?/g, '\n'));
  // Fenced code blocks: ```lang\n ... ``` (an unclosed fence while streaming runs to the end).
  const html: string[] = [];
  const fence = /```([\w+-]*)[^\n]*\n?([\s\S]*?)(?:```|$)/g;
  let last = 0;
  for (let m = fence.exec(escaped); m !== null; m = fence.exec(escaped)) {
    if (m[0] === '') {
      fence.lastIndex++;
      continue;
    }
    html.push(blocks(escaped.slice(last, m.index)));
    const lang = m[1] ? ` class="language-${m[1]}"` : '';
    html.push(`<pre><code${lang}>${m[2].replace(/\n$/, '')}</code></pre>`);
    last = m.index + m[0].length;
  }
  html.push(blocks(escaped.slice(last)));
  return html.join('');
}

export const CHAT_PAGE_HTML = `<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fugaku-LLM チャット</title>
<link rel="stylesheet" href="/chat.css">
</head>
<body>
<header>
  <h1>Fugaku-LLM チャット</h1>
  <span id="model" class="muted"></span>
  <button id="new-chat" type="button" title="会話をリセット">新しい会話</button>
  <details id="settings">
    <summary>設定</summary>
    <label>temperature <input id="temperature" type="number" min="0" max="2" step="0.1" value="0.7"></label>
    <label>top_p <input id="top-p" type="number" min="0" max="1" step="0.05" value="0.95"></label>
    <label>最大トークン数 <input id="max-tokens" type="number" min="1" max="4096" step="1" value="256"></label>
    <label>システムプロンプト <textarea id="system" rows="2" placeholder="（既定: 以下は、タスクを説明する指示です。…）"></textarea></label>
    <label>API キー <input id="api-key" type="password" autocomplete="off" placeholder="（不要なら空欄）"></label>
  </details>
</header>
<main id="messages" aria-live="polite"></main>
<footer>
  <form id="composer">
    <textarea id="input" rows="3" placeholder="メッセージを入力（Enter で送信、Shift+Enter で改行）" autofocus></textarea>
    <div class="buttons">
      <button id="send" type="submit">送信</button>
      <button id="stop" type="button" disabled>停止</button>
    </div>
  </form>
  <div id="status" class="muted"></div>
</footer>
<script src="/chat.js"></script>
</body>
</html>
`;

export const CHAT_PAGE_CSS = `
:root { color-scheme: light dark; --bg: #f6f7f9; --fg: #1d2330; --muted: #6b7385; --user: #dbeafe; --bot: #ffffff; --border: #d5d9e0; --accent: #2563eb; }
@media (prefers-color-scheme: dark) { :root { --bg: #15181e; --fg: #e6e8ec; --muted: #98a0b0; --user: #1e3a5f; --bot: #1f232b; --border: #333946; --accent: #60a5fa; } }
* { box-sizing: border-box; }
html, body { height: 100%; margin: 0; }
body { display: flex; flex-direction: column; background: var(--bg); color: var(--fg);
  font-family: "Noto Sans CJK JP", "Noto Sans JP", "Hiragino Kaku Gothic ProN", "Yu Gothic", Meiryo, system-ui, sans-serif; line-height: 1.7; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: .75rem; padding: .6rem 1rem; border-bottom: 1px solid var(--border); }
header h1 { font-size: 1.1rem; margin: 0; }
.muted { color: var(--muted); font-size: .85rem; }
#settings { margin-left: auto; font-size: .9rem; }
#settings[open] { flex-basis: 100%; display: grid; grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr)); gap: .5rem; }
#settings summary { cursor: pointer; }
#settings label { display: flex; flex-direction: column; gap: .2rem; }
input, textarea, button { font: inherit; color: inherit; }
input, textarea { background: var(--bot); border: 1px solid var(--border); border-radius: 6px; padding: .35rem .5rem; }
button { border: 1px solid var(--border); background: var(--bot); border-radius: 6px; padding: .35rem .9rem; cursor: pointer; }
button:disabled { opacity: .45; cursor: default; }
#send { background: var(--accent); border-color: var(--accent); color: #fff; }
main { flex: 1; overflow-y: auto; padding: 1rem; display: flex; flex-direction: column; gap: .8rem; }
.msg { max-width: min(48rem, 92%); padding: .6rem .9rem; border-radius: 10px; border: 1px solid var(--border); overflow-wrap: anywhere; }
.msg.user { align-self: flex-end; background: var(--user); white-space: pre-wrap; }
.msg.assistant { align-self: flex-start; background: var(--bot); }
.msg.assistant[data-state="streaming"]::after { content: "▍"; color: var(--accent); }
.msg .note { display: block; color: var(--muted); font-size: .8rem; margin-top: .3rem; }
.msg.error { border-color: #dc2626; color: #dc2626; }
.msg p { margin: .3rem 0; }
.msg ul, .msg ol { margin: .3rem 0; padding-left: 1.4rem; }
.msg pre { background: rgba(127,127,127,.12); padding: .6rem; border-radius: 6px; overflow-x: auto; }
.msg code { font-family: ui-monospace, "Noto Sans Mono CJK JP", monospace; font-size: .9em; }
footer { border-top: 1px solid var(--border); padding: .6rem 1rem; }
#composer { display: flex; gap: .6rem; }
#input { flex: 1; resize: vertical; min-height: 3.2rem; }
.buttons { display: flex; flex-direction: column; gap: .4rem; }
`;

/** The page's behaviour (browser JavaScript, run after the DOM above). */
const MAIN_JS = String.raw`
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const messagesEl = $('messages');
  const input = $('input');
  const sendBtn = $('send');
  const stopBtn = $('stop');
  const statusEl = $('status');
  let history = [];
  let controller = null;
  let model = null;
  let composing = false;
  let compositionEndedAt = -1;

  function authHeaders() {
    const h = { 'content-type': 'application/json' };
    const key = $('api-key').value.trim();
    if (key) h.authorization = 'Bearer ' + key;
    return h;
  }

  async function loadModel() {
    try {
      const r = await fetch('/v1/models', { headers: authHeaders() });
      const j = await r.json();
      if (!r.ok) throw new Error(j.error ? j.error.message : r.statusText);
      model = j.data[0].id;
      $('model').textContent = 'モデル: ' + model;
    } catch (e) {
      $('model').textContent = 'モデル一覧を取得できません: ' + e.message;
    }
  }

  function bubble(role, text) {
    const div = document.createElement('div');
    div.className = 'msg ' + role;
    if (role === 'user') div.textContent = text;
    messagesEl.appendChild(div);
    messagesEl.scrollTop = messagesEl.scrollHeight;
    return div;
  }

  function showAnswer(div, text, note) {
    div.innerHTML = renderMarkdown(text);
    if (note) {
      const span = document.createElement('span');
      span.className = 'note';
      span.textContent = note;
      div.appendChild(span);
    }
    messagesEl.scrollTop = messagesEl.scrollHeight;
  }

  function setBusy(busy) {
    sendBtn.disabled = busy;
    stopBtn.disabled = !busy;
  }

  function num(id, fallback) {
    const v = Number($(id).value);
    return Number.isFinite(v) ? v : fallback;
  }

  async function send() {
    const text = input.value.trim();
    if (!text || controller) return;
    if (!model) await loadModel();
    input.value = '';
    history.push({ role: 'user', content: text });
    bubble('user', text);
    const div = bubble('assistant', '');
    div.dataset.state = 'streaming';
    controller = new AbortController();
    setBusy(true);
    statusEl.textContent = '生成中…';
    const system = $('system').value.trim();
    const body = {
      model,
      messages: (system ? [{ role: 'system', content: system }] : []).concat(history),
      stream: true,
      stream_options: { include_usage: true },
      temperature: num('temperature', 0.7),
      top_p: num('top-p', 0.95),
      max_tokens: Math.max(1, Math.round(num('max-tokens', 256))),
    };
    let answer = '';
    let finish = null;
    let usage = null;
    const t0 = performance.now();
    try {
      const r = await fetch('/v1/chat/completions', { method: 'POST', headers: authHeaders(), body: JSON.stringify(body), signal: controller.signal });
      if (!r.ok) {
        let msg = r.status + ' ' + r.statusText;
        try { const j = await r.json(); if (j.error) msg = j.error.message; } catch (_) {}
        throw new Error(msg);
      }
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const event = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          for (const line of event.split('\n')) {
            if (!line.startsWith('data: ')) continue;
            const data = line.slice(6);
            if (data === '[DONE]') continue;
            const j = JSON.parse(data);
            if (j.error) throw new Error(j.error.message);
            if (j.usage) usage = j.usage;
            for (const c of j.choices || []) {
              if (c.delta && typeof c.delta.content === 'string') answer += c.delta.content;
              if (c.finish_reason) finish = c.finish_reason;
            }
            showAnswer(div, answer);
          }
        }
      }
      div.dataset.state = 'done';
      showAnswer(div, answer, finish === 'length' ? '（最大トークン数に達しました）' : '');
      history.push({ role: 'assistant', content: answer });
      const secs = (performance.now() - t0) / 1000;
      statusEl.textContent = usage ? usage.completion_tokens + ' トークン / ' + secs.toFixed(1) + ' 秒' : '';
    } catch (e) {
      if (e.name === 'AbortError') {
        div.dataset.state = 'stopped';
        showAnswer(div, answer, '（停止しました）');
        if (answer) history.push({ role: 'assistant', content: answer });
        else history.pop();
        statusEl.textContent = '停止しました';
      } else {
        div.dataset.state = 'error';
        div.classList.add('error');
        div.textContent = 'エラー: ' + e.message;
        history.pop();
        statusEl.textContent = '';
      }
    } finally {
      controller = null;
      setBusy(false);
      input.focus();
    }
  }

  input.addEventListener('compositionstart', () => { composing = true; });
  input.addEventListener('compositionend', () => { composing = false; compositionEndedAt = performance.now(); });
  input.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || e.shiftKey) return;
    // Enter that confirms an IME conversion must not send (Chrome: isComposing; Safari: keyCode 229 or
    // the keydown right after compositionend).
    if (e.isComposing || e.keyCode === 229 || composing || performance.now() - compositionEndedAt < 50) return;
    e.preventDefault();
    send();
  });
  $('composer').addEventListener('submit', (e) => { e.preventDefault(); send(); });
  stopBtn.addEventListener('click', () => { if (controller) controller.abort(); });
  $('new-chat').addEventListener('click', () => {
    if (controller) controller.abort();
    history = [];
    messagesEl.textContent = '';
    statusEl.textContent = '';
    input.focus();
  });
  window.renderMarkdown = renderMarkdown;
  loadModel();
})();
`;

/** /chat.js: the Markdown renderer plus the page logic. */
export function chatPageScript(): string {
  return `const renderMarkdown = ${renderMarkdown.toString()};\n${MAIN_JS}`;
}

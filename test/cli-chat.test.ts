/**
 * `fugaku chat`: piped mode through the real CLI (answers checked against the library, greedy), a
 * pseudo-terminal session (util-linux `script`) with Ctrl-C during an answer, and the stop-string filter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { StopStringFilter } from '../src/cli/chat.js';
import { AutoTokenizer } from '../src/tokenizer/index.js';
import { AutoModelForCausalLM } from '../src/generation/causal-lm.js';
import { applyChatTemplate, TURN_STOP_STRING, type ChatMessage } from '../src/chat/index.js';
import { modelDirs, repoRoot } from './helpers.js';

/** argv (after `node`) that runs the real `fugaku chat ...`. */
function chatArgv(args: string[]): { argv: string[]; cleanup: () => void } {
  return { argv: [path.join(repoRoot, 'bin', 'fugaku.js'), 'chat', ...args], cleanup: () => {} };
}

function runPiped(args: string[], stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { argv, cleanup } = chatArgv(args);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      cleanup();
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

/** What the chat should answer (greedy), computed with the library. */
async function expectedAnswers(turns: (string | null)[], maxNewTokens: number): Promise<string[]> {
  const dir = modelDirs['tiny-ja-demo'];
  const tok = await AutoTokenizer.fromPretrained(dir);
  const model = await AutoModelForCausalLM.fromPretrained(dir);
  const decode = (ids: number[]): string => tok.decode(ids, { skipSpecialTokens: true });
  let history: ChatMessage[] = [];
  const answers: string[] = [];
  for (const t of turns) {
    if (t === null) {
      history = [];
      continue;
    }
    history.push({ role: 'user', content: t });
    const ids = tok.encode(applyChatTemplate(history), { addSpecialTokens: false });
    const [seq] = await model.generateSequences(ids, { maxNewTokens, stopStrings: [TURN_STOP_STRING] }, { decode });
    let text = decode(seq.outputIds);
    const cut = text.indexOf(TURN_STOP_STRING);
    if (cut >= 0) text = text.slice(0, cut);
    text = text.trimEnd();
    answers.push(text);
    history.push({ role: 'assistant', content: text });
  }
  return answers;
}

test('piped: 2 messages, /reset, 1 message → 3 answers (history kept, then cleared), exit 0', async () => {
  const turns = ['こんにちは', '長い物語を書いてください。', null, '日本の首都は？'];
  const stdin = turns.map((t) => t ?? '/reset').join('\n') + '\n';
  const [run, expected] = await Promise.all([runPiped(['--max-new-tokens', '8'], stdin), expectedAnswers(turns, 8)]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(expected.length, 3);
  for (const a of expected) assert.match(a, /^[\s\S]*[\u3040-\u30ff\u4e00-\u9fff]/u, `answer ${JSON.stringify(a)} is not Japanese text`);
  assert.equal(run.stdout, expected.map((a) => a + '\n').join(''));
  assert.ok(!run.stdout.includes('> '), 'no prompt when piped');
  assert.ok(!run.stdout.includes('\u001b['), 'no escape sequences when piped');
  assert.match(run.stderr, /history cleared/);
});

test('piped: commands and blank lines print nothing on stdout; unknown commands are reported', async () => {
  const run = await runPiped(['--max-new-tokens', '2'], '\n/help\n/nope\n   \nこんにちは\n/exit\nこれは読まれない\n');
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.split('\n').length, 2, `one answer expected, got ${JSON.stringify(run.stdout)}`);
  assert.match(run.stderr, /\/reset/);
  assert.match(run.stderr, /unknown command \/nope/);
});

test('a --max-new-tokens that leaves no room for a prompt is an error', async () => {
  const run = await runPiped(['--max-new-tokens', '512'], 'こんにちは\n');
  assert.equal(run.code, 1);
  assert.match(run.stderr, /INVALID_ARGUMENT.*max-new-tokens/);
  assert.equal(run.stdout, '');
});

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

/** A session in a pseudo-terminal: `script -qfec CMD /dev/null`. */
function ptySession(args: string[]) {
  const { argv, cleanup } = chatArgv(args);
  const quote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;
  const child = spawn('script', ['-qfec', [process.execPath, ...argv].map(quote).join(' '), '/dev/null'], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, TERM: 'dumb', COLUMNS: '200', LINES: '50' },
  });
  let out = '';
  const waiters: { re: RegExp; from: number; resolve: () => void }[] = [];
  const check = (): void => {
    for (const w of waiters.slice()) {
      if (w.re.test(out.slice(w.from))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    check();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      cleanup();
      resolve(code);
    }),
  );
  return {
    get output(): string {
      return out;
    },
    mark: (): number => out.length,
    /** Resolves when `re` matches the output written after position `from`. */
    waitFor(re: RegExp, from = 0, ms = 20000): Promise<void> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timeout waiting for ${re} in ${JSON.stringify(out)}`)), ms);
        waiters.push({ re, from, resolve: () => (clearTimeout(timer), resolve()) });
        check();
      });
    },
    send: (s: string): void => void child.stdin.write(s),
    exited,
    kill: (): void => void child.kill('SIGKILL'),
  };
}

test('terminal: a message, Ctrl-C mid-answer stops only the answer, /exit quits with 0', async () => {
  assert.ok(hasScript, 'the pseudo-terminal tests need util-linux `script` (Debian package bsdutils; .ci/run installs it)');
  const t0 = Date.now();
  // 400 new tokens would take ~30 s; the answer to こんにちは is long (no early EOS).
  const s = ptySession(['--max-new-tokens', '400']);
  try {
    await s.waitFor(/> $/);
    let at = s.mark();
    s.send('こんにちは\r');
    // The echo of the line, then some streamed answer text.
    await s.waitFor(/こんにちは\r*\n[^>\s]{2}/u, at);
    s.send('\x03');
    await s.waitFor(/\(stopped\)[\s\S]*> $/, at);
    assert.ok(Date.now() - t0 < 20000, 'the answer was stopped early');
    // The chat goes on: a second question is answered in the same session.
    at = s.mark();
    s.send('/help\r');
    await s.waitFor(/\/reset[\s\S]*> $/, at);
    s.send('/exit\r');
    assert.equal(await s.exited, 0, s.output);
  } finally {
    s.kill();
  }
});

test('terminal: Ctrl-C at the prompt quits; so does Ctrl-D', async () => {
  assert.ok(hasScript, 'the pseudo-terminal tests need util-linux `script` (Debian package bsdutils; .ci/run installs it)');
  for (const key of ['\x03', '\x04']) {
    const s = ptySession(['--max-new-tokens', '4']);
    try {
      await s.waitFor(/> $/);
      s.send(key);
      assert.equal(await s.exited, 0, s.output);
    } finally {
      s.kill();
    }
  }
});

test('StopStringFilter: the stop string and the whitespace before it never reach the screen', () => {
  const feed = (chunks: string[]): { shown: string; answer: string; stopped: boolean } => {
    let shown = '';
    const f = new StopStringFilter([TURN_STOP_STRING], (s) => (shown += s));
    const seen: string[] = [];
    for (const c of chunks) {
      f.push(c);
      seen.push(shown);
    }
    const answer = f.finish();
    // What was shown at any time is a prefix of the final answer.
    for (const s of seen) assert.ok(answer.startsWith(s), `${JSON.stringify(s)} shown, answer ${JSON.stringify(answer)}`);
    assert.equal(shown, answer);
    return { shown, answer, stopped: f.stopped };
  };
  assert.deepEqual(feed(['東京', 'です。', '\n\n', '###', ' 指示', ':', '\n次']), { shown: '東京です。', answer: '東京です。', stopped: true });
  assert.deepEqual(feed(['a', '##', '#', ' 応答']), { shown: 'a### 応答', answer: 'a### 応答', stopped: false });
  assert.deepEqual(feed(['x\n', '\n', '### 指示:']), { shown: 'x', answer: 'x', stopped: true });
  assert.deepEqual(feed(['### 指示:はい']), { shown: '', answer: '', stopped: true });
  assert.deepEqual(feed(['end  \n']), { shown: 'end', answer: 'end', stopped: false });
  assert.deepEqual(feed(['a b', ' c']), { shown: 'a b c', answer: 'a b c', stopped: false });
});

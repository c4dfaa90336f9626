/**
 * The Fugaku-LLM-13B-instruct chat format: exact strings, the Jinja chat_template agreeing with
 * applyChatTemplate on random conversations, errors, fitHistory, and how the real tokenizer encodes it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Template } from '@huggingface/jinja';
import {
  applyChatTemplate,
  fitHistory,
  FUGAKU_CHAT_TEMPLATE,
  DEFAULT_SYSTEM_PROMPT,
  INPUT_SYSTEM_PROMPT,
  type ChatMessage,
} from '../src/chat/index.js';
import { AutoTokenizer } from '../src/tokenizer/index.js';
import { modelDirs } from './helpers.js';

const EOS = '<EOD|LLM-jp>';
const tokPromise = AutoTokenizer.fromPretrained(modelDirs['tiny-ja-demo']);
const jinja = new Template(FUGAKU_CHAT_TEMPLATE);

function renderJinja(messages: ChatMessage[], addGenerationPrompt: boolean, input?: string): string {
  const ctx: Record<string, unknown> = { messages, add_generation_prompt: addGenerationPrompt, eos_token: EOS };
  if (input !== undefined) ctx['input'] = input;
  return jinja.render(ctx);
}

test('single turn: exactly the model card prompt', () => {
  const instruction = 'スーパーコンピュータ「富岳」の名前の由来を教えてください。';
  const want = `${DEFAULT_SYSTEM_PROMPT}\n\n### 指示:\n${instruction}\n\n### 応答:\n`;
  assert.equal(DEFAULT_SYSTEM_PROMPT, '以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。');
  assert.equal(applyChatTemplate([{ role: 'user', content: instruction }]), want);
  assert.equal(applyChatTemplate([{ role: 'system', content: DEFAULT_SYSTEM_PROMPT }, { role: 'user', content: instruction }]), want);
  assert.equal(renderJinja([{ role: 'user', content: instruction }], true), want);
});

test('input section (dolly style) with its own default system prompt', () => {
  assert.equal(INPUT_SYSTEM_PROMPT, '以下は、タスクを説明する指示と、文脈のある入力の組み合わせです。要求を適切に満たす応答を書きなさい。');
  const want = `${INPUT_SYSTEM_PROMPT}\n\n### 指示:\n次の文を要約してください。\n\n### 入力:\n富岳は理化学研究所のスパコンです。\n\n### 応答:\n`;
  const msgs: ChatMessage[] = [{ role: 'user', content: '次の文を要約してください。' }];
  assert.equal(applyChatTemplate(msgs, { input: '富岳は理化学研究所のスパコンです。' }), want);
  assert.equal(renderJinja(msgs, true, '富岳は理化学研究所のスパコンです。'), want);
  // An explicit system message wins over both defaults.
  assert.ok(applyChatTemplate([{ role: 'system', content: 'S' }, ...msgs], { input: 'x' }).startsWith('S\n\n### 指示:\n'));
});

test('turn 2: the earlier answer is closed with <EOD|LLM-jp>, then \\n\\n and the next 指示', () => {
  const msgs: ChatMessage[] = [
    { role: 'user', content: '日本の首都は？' },
    { role: 'assistant', content: '東京です。' },
    { role: 'user', content: '人口は？' },
  ];
  const want = `${DEFAULT_SYSTEM_PROMPT}\n\n### 指示:\n日本の首都は？\n\n### 応答:\n東京です。<EOD|LLM-jp>\n\n### 指示:\n人口は？\n\n### 応答:\n`;
  assert.equal(applyChatTemplate(msgs), want);
  assert.equal(renderJinja(msgs, true), want);
  // A finished conversation (training format) ends with the EOS.
  const done = applyChatTemplate(msgs.slice(0, 2), { addGenerationPrompt: false });
  assert.equal(done, `${DEFAULT_SYSTEM_PROMPT}\n\n### 指示:\n日本の首都は？\n\n### 応答:\n東京です。<EOD|LLM-jp>`);
  assert.equal(renderJinja(msgs.slice(0, 2), false), done);
  // Without a generation prompt and a user message last, the prompt stops after the instruction.
  assert.ok(applyChatTemplate(msgs, { addGenerationPrompt: false }).endsWith('### 指示:\n人口は？'));
});

test('an empty system message drops the system block', () => {
  const msgs: ChatMessage[] = [{ role: 'system', content: '' }, { role: 'user', content: 'こんにちは' }];
  assert.equal(applyChatTemplate(msgs), '### 指示:\nこんにちは\n\n### 応答:\n');
  assert.equal(renderJinja(msgs, true), '### 指示:\nこんにちは\n\n### 応答:\n');
});

test('invalid conversations: FugakuError INVALID_ARGUMENT with a hint (and the Jinja template raises too)', () => {
  const cases: [string, unknown[], boolean][] = [
    ['empty', [], true],
    ['only system', [{ role: 'system', content: 's' }], true],
    ['two users', [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }], true],
    ['assistant first', [{ role: 'assistant', content: 'a' }, { role: 'user', content: 'b' }], true],
    ['two assistants', [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'assistant', content: 'c' }], false],
    ['system later', [{ role: 'user', content: 'a' }, { role: 'system', content: 'b' }], true],
    ['unknown role', [{ role: 'tool', content: 'a' }], true],
    ['assistant last with a generation prompt', [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }], true],
  ];
  for (const [name, msgs, gen] of cases) {
    assert.throws(
      () => applyChatTemplate(msgs as ChatMessage[], { addGenerationPrompt: gen }),
      (e: unknown) => {
        const err = e as { name?: string; code?: string; hint?: string };
        return err.name === 'FugakuError' && err.code === 'INVALID_ARGUMENT' && typeof err.hint === 'string' && err.hint.length > 0;
      },
      name,
    );
    assert.throws(() => renderJinja(msgs as ChatMessage[], gen), Error, `jinja: ${name}`);
  }
  assert.throws(() => applyChatTemplate([{ role: 'user', content: 5 as unknown as string }]), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => applyChatTemplate(null as unknown as ChatMessage[]), { code: 'INVALID_ARGUMENT' });
});

/** Message text: Japanese, ASCII, newlines, and things a template engine could trip over. */
const contentArb: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      fc.constantFrom('富岳', 'こんにちは', 'スーパーコンピュータ', '。', '、', '？', '\n', '\n\n', ' ', '### 指示:', '### 応答:', '{{ x }}', '{% if %}', "'", '"', '\\', '\\n', EOS, '<s|LLM-jp>'),
      fc.string({ maxLength: 6 }),
    ),
    { maxLength: 6 },
  )
  .map((parts) => parts.join(''));

/** Valid conversations plus the options they are rendered with. */
const conversationArb = fc
  .record({
    system: fc.option(fc.oneof(fc.constant(''), fc.constant(DEFAULT_SYSTEM_PROMPT), contentArb), { nil: undefined }),
    turns: fc.array(fc.tuple(contentArb, contentArb), { minLength: 0, maxLength: 4 }),
    last: contentArb,
    endsWithAnswer: fc.option(contentArb, { nil: undefined }),
    input: fc.option(contentArb, { nil: undefined }),
    addGenerationPrompt: fc.boolean(),
  })
  .map((c) => {
    const messages: ChatMessage[] = [];
    if (c.system !== undefined) messages.push({ role: 'system', content: c.system });
    for (const [u, a] of c.turns) messages.push({ role: 'user', content: u }, { role: 'assistant', content: a });
    messages.push({ role: 'user', content: c.last });
    if (c.endsWithAnswer !== undefined) messages.push({ role: 'assistant', content: c.endsWithAnswer });
    return { messages, input: c.input, addGenerationPrompt: c.endsWithAnswer === undefined ? c.addGenerationPrompt : false };
  });

test('property: the Jinja chat_template renders exactly what applyChatTemplate returns', () => {
  fc.assert(
    fc.property(conversationArb, ({ messages, input, addGenerationPrompt }) => {
      const ours = applyChatTemplate(messages, { addGenerationPrompt, input });
      assert.equal(renderJinja(messages, addGenerationPrompt, input), ours);
      // Structure: the prompt starts with the system block and ends with the generation prompt.
      if (addGenerationPrompt) assert.ok(ours.endsWith('\n\n### 応答:\n'));
      const sys = messages[0].role === 'system' ? messages[0].content : input !== undefined ? INPUT_SYSTEM_PROMPT : DEFAULT_SYSTEM_PROMPT;
      assert.ok(ours.startsWith(sys === '' ? '### 指示:\n' : `${sys}\n\n### 指示:\n`));
    }),
    { numRuns: 500 },
  );
});

test('the default render, for HF tokenizer_config.json, matches too (add_generation_prompt omitted = false)', () => {
  const msgs: ChatMessage[] = [{ role: 'user', content: 'a' }];
  assert.equal(jinja.render({ messages: msgs, eos_token: EOS }), applyChatTemplate(msgs, { addGenerationPrompt: false }));
});

test('real tokenizer: no id 7 without history; one per earlier answer with history', async () => {
  const tok = await tokPromise;
  assert.equal(tok.eosTokenId, 7);
  const single = applyChatTemplate([{ role: 'user', content: '富岳の名前の由来を教えてください。' }]);
  const ids = tok.encode(single, { addSpecialTokens: false });
  assert.ok(!ids.includes(7));
  assert.equal(tok.decode(ids), single);
  const multi = applyChatTemplate([
    { role: 'user', content: '日本の首都は？' },
    { role: 'assistant', content: '東京です。' },
    { role: 'user', content: '人口は？' },
    { role: 'assistant', content: '約1400万人です。' },
    { role: 'user', content: 'ありがとう' },
  ]);
  const mids = tok.encode(multi, { addSpecialTokens: false });
  assert.equal(mids.filter((x) => x === 7).length, 2);
  // As in HF: the text after an added token is normalized on its own, so it starts with "▁" (id 31),
  // just like the start of the prompt; decode shows it as a space after the EOS.
  assert.equal(mids[0], 31);
  assert.equal(mids[mids.indexOf(7) + 1], 31);
  assert.equal(tok.decode(mids), multi.replaceAll(EOS, `${EOS} `));
  // Property: without history there is never an id 7 (unless a message itself contains the EOS text).
  fc.assert(
    fc.property(conversationArb, ({ messages, input, addGenerationPrompt }) => {
      const text = applyChatTemplate(messages, { addGenerationPrompt, input });
      const n7 = tok.encode(text, { addSpecialTokens: false }).filter((x) => x === 7).length;
      const answers = messages.filter((m) => m.role === 'assistant').length;
      const literal = [...messages.map((m) => m.content), input ?? ''].reduce((s, c) => s + c.split(EOS).length - 1, 0);
      assert.equal(n7, answers + literal);
    }),
    { numRuns: 200 },
  );
});

test('fitHistory drops the oldest exchanges first and keeps the system and newest messages', async () => {
  const tok = await tokPromise;
  const count = (t: string): number => tok.encode(t, { addSpecialTokens: false }).length;
  const msgs: ChatMessage[] = [{ role: 'system', content: 'あなたは親切なアシスタントです。' }];
  for (let i = 0; i < 6; i++) msgs.push({ role: 'user', content: `質問${i}：富岳について教えて。` }, { role: 'assistant', content: `回答${i}：富岳はスーパーコンピュータです。`.repeat(3) });
  msgs.push({ role: 'user', content: '最後の質問です。' });
  const full = count(applyChatTemplate(msgs));
  assert.deepEqual(fitHistory(msgs, count, full), msgs, 'fits as is');
  const fitted = fitHistory(msgs, count, full - 1);
  assert.deepEqual(fitted, [msgs[0], ...msgs.slice(3)], 'one exchange dropped');
  assert.ok(count(applyChatTemplate(fitted)) <= full - 1);
  const minimal = count(applyChatTemplate([msgs[0], msgs[msgs.length - 1]]));
  assert.deepEqual(fitHistory(msgs, count, minimal), [msgs[0], msgs[msgs.length - 1]]);
  assert.throws(() => fitHistory(msgs, count, minimal - 1), (e: unknown) => (e as { code?: string }).code === 'CONTEXT_OVERFLOW');
  // Without a system message, the default system prompt is counted but nothing is added.
  const noSys = msgs.slice(1);
  const r = fitHistory(noSys, count, count(applyChatTemplate(noSys.slice(-3))));
  assert.deepEqual(r, noSys.slice(-3));
  // Property: the result is a suffix of exchanges that fits, and the longest one that does.
  fc.assert(
    fc.property(fc.integer({ min: minimal, max: full + 5 }), (budget) => {
      const kept = fitHistory(msgs, count, budget);
      assert.equal(kept[0], msgs[0]);
      assert.equal(kept[kept.length - 1], msgs[msgs.length - 1]);
      assert.ok(count(applyChatTemplate(kept)) <= budget);
      const dropped = msgs.length - kept.length;
      assert.equal(dropped % 2, 0);
      if (dropped > 0) assert.ok(count(applyChatTemplate([msgs[0], ...msgs.slice(dropped - 1)])) > budget);
    }),
    { numRuns: 40 },
  );
});

/**
 * Keys of GGUF files written by other converters: licence keys shown as terms (readModelTerms, what
 * `fugaku serve` serves at /terms) and tokenizer.chat_template (readModelChatTemplate + the CLI's note).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gguf, writeGGUF, type GGUFTypedValue } from '../src/io/gguf.js';
import { readModelTerms } from '../src/io/terms.js';
import { readModelChatTemplate } from '../src/io/model-chat-template.js';
import { chatTemplateNote, FUGAKU_CHAT_TEMPLATE } from '../src/chat/index.js';
import { fixturesDir } from './helpers.js';

async function metaOnly(entries: Array<[string, GGUFTypedValue]>): Promise<string> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'fugaku-keys-')), 'm.gguf');
  await writeGGUF(file, { metadata: [['general.architecture', gguf.str('gpt2')], ...entries], tensors: [] }, () => new Uint8Array(0));
  return file;
}

test('licence: general.license.text is the terms; without it the name/id/link are shown', async () => {
  assert.equal(await readModelTerms(await metaOnly([['general.license.text', gguf.str('TERMS TEXT\n')], ['general.license.name', gguf.str('X')]])), 'TERMS TEXT\n');
  const named = await readModelTerms(await metaOnly([
    ['general.license', gguf.str('other')],
    ['general.license.name', gguf.str('Fugaku-LLM Terms of Use')],
    ['general.license.link', gguf.str('https://huggingface.co/Fugaku-LLM/Fugaku-LLM-13B/blob/main/LICENSE')],
  ]));
  assert.equal(named, "This model's GGUF file names its licence but does not include its text.\nLicence: Fugaku-LLM Terms of Use\nTerms: https://huggingface.co/Fugaku-LLM/Fugaku-LLM-13B/blob/main/LICENSE\n");
  const fixture = await readModelTerms(path.join(fixturesDir, 'gguf-vocab', 'llm-jp-vocab-llamacpp.gguf'));
  assert.match(fixture ?? '', /Licence: apache-2\.0\nTerms: https:\/\/github\.com\/llm-jp\/llm-jp-tokenizer\/blob\/main\/LICENSE/);
  assert.equal(await readModelTerms(await metaOnly([['general.license', gguf.str('other')]])), null);
  assert.equal(await readModelTerms(await metaOnly([])), null);
});

test('chat template: tokenizer.chat_template is read; a foreign template gets a note, the Fugaku one none', async () => {
  const foreign = '{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}';
  const f = await metaOnly([['tokenizer.chat_template', gguf.str(foreign)]]);
  assert.equal(await readModelChatTemplate(f), foreign);
  assert.match(chatTemplateNote(foreign) ?? '', /own chat template \(\d+ characters\).*built-in Fugaku-LLM instruct format/);
  const own = await metaOnly([['tokenizer.chat_template', gguf.str(FUGAKU_CHAT_TEMPLATE)]]);
  assert.equal(chatTemplateNote(await readModelChatTemplate(own)), null);
  assert.equal(await readModelChatTemplate(await metaOnly([])), null);
  assert.equal(chatTemplateNote(null), null);
});

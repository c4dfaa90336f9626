import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FugakuError } from '../src/errors.js';
test('FugakuError carries code and hint', () => {
  const e = new FugakuError('INVALID_ARGUMENT', 'bad', 'do this');
  assert.equal(e.toLine(), 'error[INVALID_ARGUMENT]: bad (hint: do this)');
});

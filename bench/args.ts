/**
 * Command-line options of the bench scripts: node:util's parseArgs, but `--help` prints the script's
 * usage and an unknown or malformed option prints what was wrong and the usage (exit 2), where a
 * bare parseArgs call would end the process with a TypeError's stack trace.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;
type Values<O extends Options> = ReturnType<typeof parseArgs<{ options: O }>>['values'];

export function benchArgs<const O extends Options>(script: string, usage: string, options: O): Values<O> {
  let values: Values<O> & { help?: boolean };
  try {
    values = parseArgs({ options: { ...options, help: { type: 'boolean' } } }).values as Values<O> & { help?: boolean };
  } catch (e) {
    console.error(`${script}: ${(e as Error).message}\nusage: ${usage}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(`usage: ${usage}`);
    process.exit(0);
  }
  return values;
}

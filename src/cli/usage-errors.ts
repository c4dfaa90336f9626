/**
 * Commander's parse errors (unknown option or command, bad or missing option value) as FugakuErrors,
 * so they print like every other error: `error[CODE]: message (hint: ...)` and exit 1. Help and
 * --version are left to commander (its normal output, exit 0).
 */
import { CommanderError, type Command } from 'commander';
import { FugakuError } from '../errors.js';

/** Commander's codes for output that is not an error. */
const NOT_ERRORS = new Set(['commander.help', 'commander.helpDisplayed', 'commander.version', 'commander.executeSubCommandAsync']);

/** "fugaku eval mt-bench answer" for that command. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The long name of an option from its flags ("-h, --help" → "--help", "--dtype <format>" → "--dtype"). */
function optionName(flags: string): string {
  const words = flags.split(/[\s,|]+/).filter((w) => w.startsWith('-'));
  return words.find((w) => w.startsWith('--')) ?? words[0] ?? flags;
}

/** A value for a message: quoted, and cut when long (a pasted prompt, a long id list). */
function shown(v: string): string {
  return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
}

/** What a value parser or commander's choices said the option takes. */
function takes(name: string, detail: string): string {
  const choices = /^Allowed choices are (.*?)\.?$/s.exec(detail);
  if (choices) return `${name} takes one of ${choices[1]}`;
  return detail.replace(/\.$/, '');
}

/**
 * The FugakuError for commander's error `err`, raised while parsing `cmd`; null for help and version
 * output (not errors). Messages are matched on commander 14's wording, with a plain fallback.
 */
export function usageError(err: CommanderError, cmd: Command): FugakuError | null {
  if (NOT_ERRORS.has(err.code)) return null;
  const where = commandPath(cmd);
  const help = `see ${where} --help`;
  const [first, ...rest] = err.message.split('\n');
  const text = first.replace(/^error: /, '');
  const suggestion = /\(Did you mean (.+)\?\)/.exec(rest.join(' '))?.[1];
  const didYouMean = suggestion ? `did you mean ${suggestion}? ` : '';
  let m: RegExpExecArray | null;
  switch (err.code) {
    case 'commander.unknownOption':
      m = /^unknown option '(.*)'$/.exec(text);
      return new FugakuError('UNKNOWN_OPTION', `${where}: unknown option ${m ? m[1] : text}`, `${didYouMean}${help} for the options it takes`);
    case 'commander.unknownCommand': {
      m = /^unknown command '(.*)'$/.exec(text);
      const names = cmd.commands.map((c) => c.name()).filter((n) => n !== 'help');
      return new FugakuError('UNKNOWN_COMMAND', `${where}: unknown command ${m ? m[1] : text}`, `${didYouMean}commands: ${names.join(', ')}; ${help}`);
    }
    case 'commander.invalidArgument':
      m = /^option '(.+?)' argument '([\s\S]*)' is invalid\. ([\s\S]*)$/.exec(err.message.replace(/^error: /, ''));
      if (m) {
        const name = optionName(m[1]);
        return new FugakuError('INVALID_ARGUMENT', `${where}: ${name} ${shown(m[2])} is invalid`, `${takes(name, m[3])}; ${help}`);
      }
      m = /^command-argument value '([\s\S]*)' is invalid for argument '(.+?)'\. ([\s\S]*)$/.exec(err.message.replace(/^error: /, ''));
      if (m) return new FugakuError('INVALID_ARGUMENT', `${where}: argument <${m[2]}> ${shown(m[1])} is invalid`, `${takes(`<${m[2]}>`, m[3])}; ${help}`);
      break;
    case 'commander.optionMissingArgument':
      m = /^option '(.+)' argument missing$/.exec(text);
      if (m) return new FugakuError('INVALID_ARGUMENT', `${where}: ${optionName(m[1])} needs a value`, `write ${m[1]}; ${help}`);
      break;
    case 'commander.missingMandatoryOptionValue':
      m = /^required option '(.+)' not specified$/.exec(text);
      if (m) return new FugakuError('INVALID_ARGUMENT', `${where}: ${optionName(m[1])} is required`, `add ${m[1]}; ${help}`);
      break;
    case 'commander.conflictingOption':
      m = /^option '(.+?)' cannot be used with option '(.+?)'$/.exec(text);
      if (m) return new FugakuError('INVALID_ARGUMENT', `${where}: ${optionName(m[1])} and ${optionName(m[2])} cannot be used together`, `drop one of them; ${help}`);
      break;
    case 'commander.missingArgument':
      m = /^missing required argument '(.+)'$/.exec(text);
      if (m) return new FugakuError('INVALID_ARGUMENT', `${where}: the argument <${m[1]}> is missing`, `${help} for its usage`);
      break;
  }
  return new FugakuError('INVALID_ARGUMENT', `${where}: ${text.replace(/\.$/, '')}`, `${didYouMean}${help}`);
}

/**
 * On `cmd` and every subcommand below it: commander prints nothing for errors and throws the
 * FugakuError from `usageError` instead of exiting; help and version throw commander's own error
 * (after printing as usual) for the caller to exit 0.
 */
export function installUsageErrors(cmd: Command): void {
  cmd.configureOutput({ outputError: () => {} });
  cmd.exitOverride((err) => {
    throw usageError(err, cmd) ?? err;
  });
  for (const sub of cmd.commands) installUsageErrors(sub);
}

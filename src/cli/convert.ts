import type { Command } from 'commander';

/** Registers `fugaku convert` (being written). */
export function registerConvertCommand(program: Command): void {
  void program;
}

import type { Command } from 'commander';

/** Registers `fugaku eval` (being written). */
export function registerEvalCommand(program: Command): void {
  void program;
}

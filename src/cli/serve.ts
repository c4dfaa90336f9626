import type { Command } from 'commander';

/** Registers `fugaku serve` (being written). */
export function registerServeCommand(program: Command): void {
  void program;
}

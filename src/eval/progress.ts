/**
 * Progress for counted jobs (questions, judgments, windows): a cli-progress bar on a terminal; otherwise
 * plain lines (at each 10% step and at the end), so logs show progress without flooding.
 */
import cliProgress from 'cli-progress';

export interface CountProgress {
  start(total: number, label: string): void;
  update(done: number, info?: string): void;
  stop(): void;
}

export function createCountProgress(stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr): CountProgress {
  if (stream.isTTY === true) {
    let bar: cliProgress.SingleBar | null = null;
    return {
      start(total, label) {
        bar?.stop();
        bar = new cliProgress.SingleBar(
          { stream: stream as NodeJS.WriteStream, format: `${label} [{bar}] {value}/{total} | ETA {eta_formatted} {info}`, hideCursor: true, etaBuffer: 20 },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, 0, { info: '' });
      },
      update(done, info = '') {
        bar?.update(done, { info });
      },
      stop() {
        bar?.stop();
        bar = null;
      },
    };
  }
  let total = 0;
  let label = '';
  let lastDecile = -1;
  return {
    start(t, l) {
      total = t;
      label = l;
      lastDecile = -1;
    },
    update(done, info) {
      const decile = total > 0 ? Math.floor((10 * done) / total) : 10;
      if (decile === lastDecile && done !== total) return;
      lastDecile = decile;
      stream.write(`${label} ${done}/${total}${info ? ` ${info}` : ''}\n`);
    },
    stop() {},
  };
}

/**
 * Progress reporting for long byte-counted jobs (loading a 26 GB checkpoint).
 *
 * Callers own the lifecycle: start(totalBytes, label) → advance(bytes)… → stop(). Every reporter
 * is an ordinary object created by the caller; nothing here is global.
 */
import cliProgress from 'cli-progress';

export interface ProgressReporter {
  /** Begins a job of `totalBytes` bytes, shown as `label`. */
  start(totalBytes: number, label: string): void;
  /** Records `bytes` more bytes done. */
  advance(bytes: number): void;
  /** Ends the job (idempotent; safe to call without start). */
  stop(): void;
}

/** A reporter that does nothing (non-interactive output, tests, library use). */
export function createNoopProgress(): ProgressReporter {
  return { start() {}, advance() {}, stop() {} };
}

/** Formats a byte count as MiB/GiB for the bar. */
export function formatBytes(bytes: number): string {
  const gib = 1024 ** 3;
  return bytes >= gib ? `${(bytes / gib).toFixed(2)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/**
 * A terminal progress bar (cli-progress) on `stream`, default stderr. When the stream is not a
 * TTY (piped, redirected, CI) it returns the no-op reporter, so logs stay clean.
 */
export function createTtyProgress(stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  if (stream.isTTY !== true) return createNoopProgress();

  let bar: cliProgress.SingleBar | null = null;
  let done = 0;
  let total = 0;
  let label = '';
  const payload = () => ({ label, doneText: formatBytes(done), totalText: formatBytes(total) });

  return {
    start(totalBytes: number, jobLabel: string): void {
      bar?.stop();
      done = 0;
      total = totalBytes;
      label = jobLabel;
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: '{label} [{bar}] {percentage}% | {doneText} / {totalText} | ETA {eta_formatted}',
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(totalBytes, 0, payload());
    },
    advance(bytes: number): void {
      if (!bar) return;
      done += bytes;
      bar.update(done, payload());
    },
    stop(): void {
      bar?.stop();
      bar = null;
    },
  };
}

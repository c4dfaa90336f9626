/**
 * Typed errors. Every error the package raises on bad input is a FugakuError with a stable
 * machine-readable `code`, a message saying what went wrong (and where: file, tensor, option),
 * and a `hint` saying what to do about it. The CLI prints `error[code]: message (hint)` on one line.
 */
export type ErrorCode =
  // files and checkpoints
  | 'FILE_NOT_FOUND'
  | 'MODEL_INVALID'
  | 'CONFIG_INVALID'
  | 'ARCH_UNSUPPORTED'
  | 'SAFETENSORS_INVALID'
  | 'GGUF_INVALID'
  | 'TENSOR_MISSING'
  | 'TENSOR_UNEXPECTED'
  | 'TENSOR_SHAPE_MISMATCH'
  | 'DTYPE_UNSUPPORTED'
  | 'INSUFFICIENT_MEMORY'
  // tokenizer
  | 'TOKENIZER_INVALID'
  | 'TOKENIZER_UNSUPPORTED'
  | 'TOKEN_ID_OUT_OF_RANGE'
  // command line
  | 'UNKNOWN_COMMAND'
  | 'UNKNOWN_OPTION'
  // generation / inputs
  | 'INVALID_ARGUMENT'
  | 'CONTEXT_OVERFLOW'
  | 'GENERATION_CONFIG_INVALID'
  | 'ABORTED'
  // compute
  | 'BACKEND_UNAVAILABLE'
  | 'NATIVE_INVALID_ARGUMENT'
  | 'INTERNAL';

export class FugakuError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FugakuError';
    this.code = code;
    this.hint = hint;
  }

  /** One line, for the CLI and logs. */
  toLine(): string {
    return `error[${this.code}]: ${this.message}${this.hint ? ` (hint: ${this.hint})` : ''}`;
  }
}

export function isFugakuError(e: unknown): e is FugakuError {
  return e instanceof FugakuError;
}

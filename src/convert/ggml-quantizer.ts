/**
 * Which implementation of ggml_quantize_chunk `fugaku convert` uses for the k-quant mixes:
 * - 'typescript': quantizeTensorGGML (src/tensor/ggml/quantize.ts), the specification;
 * - 'native': the addon's quantizeRows (native/ggml_quantize.cc, ported from llama.cpp's
 *   ggml-quants.c), the same bytes (test/native-quantize.test.ts) 10–100× faster, on all physical cores;
 * - 'auto' (default): native when the addon loads, else TypeScript.
 * The choice comes from ConvertOptions.quantizer, else FUGAKU_QUANTIZER, else 'auto'.
 */
import { FugakuError } from '../errors.js';
import { loadNativeAddon, type NativeAddon, type NativeContext } from '../backend/native-addon.js';
import { physicalCores } from '../backend/cpu.js';
import { quantizeTensorGGML, quantRowBytesGGML, type GGMLQuantType } from '../tensor/ggml/quantize.js';

export type QuantizerChoice = 'native' | 'typescript' | 'auto';
export const QUANTIZER_CHOICES: readonly QuantizerChoice[] = ['native', 'typescript', 'auto'];

export interface GGMLQuantizer {
  /** The implementation in use. */
  readonly kind: 'native' | 'typescript';
  /** Why 'auto' fell back to TypeScript (the addon's load failure), or null. */
  readonly fallbackReason: string | null;
  /** ggml_quantize_chunk(type, src, 0, nRows, nPerRow, imatrix) → the GGUF block bytes. */
  quantize(type: GGMLQuantType, src: Float32Array, nRows: number, nPerRow: number, imatrix: Float32Array | null): Uint8Array;
}

/** The choice from the option, else FUGAKU_QUANTIZER, else 'auto' (a typed error for anything else). */
export function resolveQuantizerChoice(option: string | undefined, env: NodeJS.ProcessEnv = process.env): QuantizerChoice {
  const raw = option ?? env.FUGAKU_QUANTIZER ?? 'auto';
  const v = raw.toLowerCase();
  if (!(QUANTIZER_CHOICES as readonly string[]).includes(v)) {
    const where = option !== undefined ? 'quantizer option' : 'FUGAKU_QUANTIZER';
    throw new FugakuError('INVALID_ARGUMENT', `${where} ${JSON.stringify(raw)} is not a quantizer`, `choose one of ${QUANTIZER_CHOICES.join(', ')}`);
  }
  return v as QuantizerChoice;
}

const typescriptQuantizer = (fallbackReason: string | null): GGMLQuantizer => ({
  kind: 'typescript',
  fallbackReason,
  quantize: quantizeTensorGGML,
});

function nativeQuantizer(addon: NativeAddon, ctx: NativeContext): GGMLQuantizer {
  return {
    kind: 'native',
    fallbackReason: null,
    quantize(type, src, nRows, nPerRow, imatrix) {
      // the spec's argument checks (typed errors), then the addon
      const rowBytes = quantRowBytesGGML(type, nPerRow);
      if (src.length < nRows * nPerRow) {
        throw new FugakuError('INVALID_ARGUMENT', `quantize ${type}: ${src.length} values for ${nRows} × ${nPerRow}`, 'pass the whole tensor');
      }
      if (imatrix !== null && imatrix.length !== nPerRow) {
        throw new FugakuError('INVALID_ARGUMENT', `quantize ${type}: the importance matrix has ${imatrix.length} values for rows of ${nPerRow}`, 'pass one weight per column');
      }
      const dst = new Uint8Array(nRows * rowBytes);
      addon.quantizeRows(ctx, addon.constants.formats[type], src, nRows, nPerRow, imatrix, dst);
      return dst;
    },
  };
}

/**
 * The quantizer for `choice`. 'native' throws BACKEND_UNAVAILABLE when the addon does not load;
 * 'auto' then falls back to TypeScript. `threads`: the native pool's size (default: physical cores).
 */
export function createGGMLQuantizer(choice: QuantizerChoice, opts: { threads?: number; addonFile?: string } = {}): GGMLQuantizer {
  if (choice === 'typescript') return typescriptQuantizer(null);
  const r = loadNativeAddon(opts.addonFile);
  if (!r.ok || typeof r.addon.quantizeRows !== 'function') {
    const reason = r.ok ? `${r.path} has no quantizeRows (built from older sources)` : r.reason;
    if (choice === 'native') {
      throw new FugakuError('BACKEND_UNAVAILABLE', `the native quantizer is unavailable: ${reason}`, 'rebuild the addon (`npm rebuild fugaku-llm`), or use the TypeScript quantizer (FUGAKU_QUANTIZER=typescript)');
    }
    return typescriptQuantizer(reason);
  }
  const ctx = r.addon.createContext(opts.threads ?? physicalCores(), r.addon.constants.levels.portable);
  return nativeQuantizer(r.addon, ctx);
}

/**
 * Server metrics in the Prometheus text exposition format (version 0.0.4): counters, gauges and
 * histograms, no dependencies. One `Metrics` object per server (no module state).
 */

type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return '{' + keys.map((k) => `${k}="${labels[k].replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',') + '}';
}

class Counter {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const [k, v] of this.values) lines.push(`${this.name}${k} ${v}`);
    return lines.join('\n');
  }
}

class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) this.counts[i]++;
  }
  get observations(): number {
    return this.count;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{le="${b}"} ${this.counts[i]}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.count}`);
    return lines.join('\n');
  }
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64];

export class Metrics {
  readonly requests = new Counter('fugaku_http_requests_total', 'HTTP requests by route and status code');
  readonly promptTokens = new Counter('fugaku_prompt_tokens_total', 'prompt tokens of admitted generation requests');
  readonly prefillTokens = new Counter('fugaku_prefill_tokens_total', 'prompt tokens actually computed (prompt tokens minus reused cached prefixes)');
  readonly prefixReusedTokens = new Counter('fugaku_prefix_cache_reused_tokens_total', 'prompt tokens served from the prefix cache');
  readonly generationTokens = new Counter('fugaku_generation_tokens_total', 'generated tokens');
  readonly finished = new Counter('fugaku_sequences_finished_total', 'finished sequences by reason');
  readonly rejected = new Counter('fugaku_requests_rejected_total', 'requests refused because the queue was full');
  readonly requestLatency = new Histogram('fugaku_request_duration_seconds', 'time from request to the end of the response', LATENCY_BUCKETS);
  readonly ttft = new Histogram('fugaku_time_to_first_token_seconds', 'time from admission to the queue to the first generated token', LATENCY_BUCKETS);
  readonly queueWait = new Histogram('fugaku_queue_wait_seconds', 'time a request waited in the queue', LATENCY_BUCKETS);
  readonly stepTime = new Histogram('fugaku_step_duration_seconds', 'duration of one scheduler step (one batched forward)', LATENCY_BUCKETS);
  readonly batchSize = new Histogram('fugaku_batch_size', 'sequences per scheduler step', BATCH_BUCKETS);

  /** Renders everything; `gauges` are sampled at scrape time (queue length, running sequences, ...). */
  render(gauges: Record<string, { help: string; value: number }>): string {
    const parts = [
      this.requests, this.promptTokens, this.prefillTokens, this.prefixReusedTokens, this.generationTokens, this.finished, this.rejected,
      this.requestLatency, this.ttft, this.queueWait, this.stepTime, this.batchSize,
    ].map((m) => m.render());
    for (const [name, g] of Object.entries(gauges)) parts.push(`# HELP ${name} ${g.help}\n# TYPE ${name} gauge\n${name} ${g.value}`);
    return parts.join('\n') + '\n';
  }
}

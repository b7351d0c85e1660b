// Metrics bumped on every token request, kept as plain numbers until a scrape reads them. prom-client's
// own inc()/observe() validate and hash the labels on every call: about 1.5 and 3 µs on this machine, a
// few per cent of a token. These count the same things; prom-client formats them as before.

import type { Counter, Metric, MetricObjectWithValues, MetricType, MetricValueWithName, Registry } from 'prom-client';

/** A one-label counter's increments by label value, folded into the prom-client counter when it is read. */
export class Tally<L extends string> {
  private readonly pending = new Map<string, number>();

  constructor(private readonly label: L) {}

  inc(labels: Record<L, string>): void {
    const value = labels[this.label];
    this.pending.set(value, (this.pending.get(value) ?? 0) + 1);
  }

  /** Call from the counter's collect(), which prom-client runs before every read. */
  drainInto(counter: Counter<L>): void {
    for (const [value, count] of this.pending) counter.inc({ [this.label]: value } as Record<L, string>, count);
    this.pending.clear();
  }
}

interface Series {
  /** Per bucket, not cumulative; the last slot is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

/** A histogram over one label, shaped like prom-client's (cumulative `le` buckets, _sum, _count). */
export class LabelledHistogram<L extends string> {
  readonly type = 'histogram';
  /** Across --workers processes the buckets, sums and counts add up. */
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly label: L,
    private readonly buckets: readonly number[],
  ) {}

  /** Registers it in `registry` beside prom-client's own metrics. */
  registerIn(registry: Registry): this {
    // prom-client's Metric type lists its own classes; the registry reads only name, get(), reset() and aggregator.
    registry.registerMetric(this as unknown as Metric);
    return this;
  }

  observe(labels: Record<L, string>, seconds: number): void {
    const value = labels[this.label];
    let series = this.series.get(value);
    if (series === undefined) {
      series = { counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
      this.series.set(value, series);
    }
    let bucket = 0;
    while (bucket < this.buckets.length && seconds > this.buckets[bucket]!) bucket++;
    series.counts[bucket]!++;
    series.sum += seconds;
    series.count++;
  }

  reset(): void {
    this.series.clear();
  }

  get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values: MetricValueWithName<string>[] = [];
    for (const [value, series] of this.series) {
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += series.counts[i]!;
        const le = i < this.buckets.length ? this.buckets[i]! : '+Inf';
        values.push({ labels: { le, [this.label]: value }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { [this.label]: value }, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { [this.label]: value }, value: series.count, metricName: `${this.name}_count` });
    }
    // prom-client's types call the type an enum; at run time it is this string.
    const type = 'histogram' as unknown as MetricType;
    return Promise.resolve({ name: this.name, help: this.help, type, values, aggregator: 'sum', collect: () => undefined });
  }
}

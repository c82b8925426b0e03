namespace SharpProxy.Core.Telemetry.Metrics;

/// <summary>
/// A fixed-bucket histogram of whole numbers, updated with two interlocked adds and no lock. Buckets hold
/// non-cumulative counts; the exposition accumulates them, and derives the count from the buckets so that
/// <c>le="+Inf"</c> always equals <c>_count</c> even while requests are being recorded.
/// </summary>
internal sealed class LongHistogram
{
    /// <summary>
    /// Envoy's default histogram buckets (Stats::HistogramSettingsImpl::defaultBuckets). Istio sets no bucket settings by
    /// default, so istio_request_duration_milliseconds, istio_request_bytes and istio_response_bytes all use these.
    /// </summary>
    public static readonly double[] EnvoyDefaultBuckets =
        [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

    private readonly double[] _bounds;

    /// <summary>One slot per bound plus the overflow slot (values above the last bound).</summary>
    private readonly long[] _counts;
    private long _sum;

    public LongHistogram(double[] bounds)
    {
        _bounds = bounds;
        _counts = new long[bounds.Length + 1];
    }

    public ReadOnlySpan<double> Bounds => _bounds;

    public void Record(long value)
    {
        var bounds = _bounds;
        var index = 0;
        while (index < bounds.Length && value > bounds[index])
        {
            index++;
        }

        Interlocked.Increment(ref _counts[index]);
        Interlocked.Add(ref _sum, value);
    }

    /// <summary>Cumulative counts per bound into <paramref name="cumulative"/> (length = bounds); returns the total count.</summary>
    public long Snapshot(Span<long> cumulative, out long sum)
    {
        long running = 0;
        for (var i = 0; i < _bounds.Length; i++)
        {
            running += Volatile.Read(ref _counts[i]);
            cumulative[i] = running;
        }

        running += Volatile.Read(ref _counts[_bounds.Length]);
        sum = Volatile.Read(ref _sum);
        return running;
    }
}

namespace SharpProxy.Core.Upstream;

/// <summary>Envoy-named per-cluster counters (cluster.NAME.upstream_rq_total etc.).</summary>
internal sealed class ClusterStats
{
    private long _rqTotal;
    private long _rq1xx;
    private long _rq2xx;
    private long _rq3xx;
    private long _rq4xx;
    private long _rq5xx;
    private long _rqTimeout;
    private long _cxConnectFail;
    private long _rqActive;
    private long _noHealthyUpstream;
    private long _rqRetry;

    public long RqTotal => Volatile.Read(ref _rqTotal);

    public long RqActive => Volatile.Read(ref _rqActive);

    public long Rq1xx => Volatile.Read(ref _rq1xx);

    public long Rq2xx => Volatile.Read(ref _rq2xx);

    public long Rq3xx => Volatile.Read(ref _rq3xx);

    public long Rq4xx => Volatile.Read(ref _rq4xx);

    public long Rq5xx => Volatile.Read(ref _rq5xx);

    public long RqTimeout => Volatile.Read(ref _rqTimeout);

    public long CxConnectFail => Volatile.Read(ref _cxConnectFail);

    public long NoHealthyUpstream => Volatile.Read(ref _noHealthyUpstream);

    /// <summary>Envoy's upstream_rq_retry: retries started (not counting the first try).</summary>
    public long RqRetry => Volatile.Read(ref _rqRetry);

    public void OnRequestStart()
    {
        Interlocked.Increment(ref _rqTotal);
        Interlocked.Increment(ref _rqActive);
    }

    public void OnRequestEnd(int status)
    {
        Interlocked.Decrement(ref _rqActive);
        switch (status / 100)
        {
            case 1: Interlocked.Increment(ref _rq1xx); break;
            case 2: Interlocked.Increment(ref _rq2xx); break;
            case 3: Interlocked.Increment(ref _rq3xx); break;
            case 4: Interlocked.Increment(ref _rq4xx); break;
            default: Interlocked.Increment(ref _rq5xx); break;
        }
    }

    public void OnTimeout() => Interlocked.Increment(ref _rqTimeout);

    public void OnConnectFailure() => Interlocked.Increment(ref _cxConnectFail);

    public void OnNoHealthyUpstream() => Interlocked.Increment(ref _noHealthyUpstream);

    public void OnRetry() => Interlocked.Increment(ref _rqRetry);
}

namespace SharpProxy.Core.Upstream;

/// <summary>
/// Envoy-named per-cluster counters (cluster.NAME.upstream_rq_total etc.). A cluster rebuilt by a config push takes over
/// its predecessor's instance (see <see cref="ClusterState"/>), so the counters survive the update, as Envoy's do.
/// </summary>
internal sealed class ClusterStats
{
    /// <summary>upstream_rq_&lt;code&gt; for codes 100..599; other codes only count in their class.</summary>
    private readonly long[] _rqByCode = new long[600];
    private Tls.TlsStats? _ssl;
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
    private long _healthyPanic;
    private long _rqPendingOverflow;
    private long _cxOverflow;
    private long _rqRetryOverflow;
    private long _ejectionsActive;
    private long _ejectionsTotal;
    private long _ejectionsOverflow;
    private long _ejectionsEnforcedTotal;
    private long _ejectionsEnforcedConsecutive5xx;
    private long _ejectionsDetectedConsecutive5xx;
    private long _ejectionsEnforcedGatewayFailure;
    private long _ejectionsDetectedGatewayFailure;
    private long _ejectionsEnforcedSuccessRate;
    private long _ejectionsDetectedSuccessRate;
    private long _ejectionsEnforcedFailurePercentage;
    private long _ejectionsDetectedFailurePercentage;

    /// <summary>cluster.&lt;name&gt;.ssl.*, created when the cluster first opens a TLS connection.</summary>
    public Tls.TlsStats Ssl => LazyInitializer.EnsureInitialized(ref _ssl);

    /// <summary>The ssl.* counters when the cluster ever used TLS, else null (not shown in /stats).</summary>
    public Tls.TlsStats? SslIfUsed => Volatile.Read(ref _ssl);

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

    /// <summary>lb_healthy_panic: picks made over all hosts of a level in panic.</summary>
    public long HealthyPanic => Volatile.Read(ref _healthyPanic);

    /// <summary>upstream_rq_pending_overflow: requests refused by max_requests or max_pending_requests (503 UO).</summary>
    public long RqPendingOverflow => Volatile.Read(ref _rqPendingOverflow);

    /// <summary>upstream_cx_overflow: times max_connections stopped a new connection.</summary>
    public long CxOverflow => Volatile.Read(ref _cxOverflow);

    /// <summary>upstream_rq_retry_overflow: retries refused by max_retries.</summary>
    public long RqRetryOverflow => Volatile.Read(ref _rqRetryOverflow);

    /// <summary>outlier_detection.ejections_active (gauge): hosts currently ejected.</summary>
    public long OutlierEjectionsActive => Volatile.Read(ref _ejectionsActive);

    /// <summary>
    /// outlier_detection.ejections_total (Envoy marks it deprecated): consecutive-5xx detections that passed the
    /// max_ejection_percent check, enforced or not.
    /// </summary>
    public long OutlierEjectionsTotal => Volatile.Read(ref _ejectionsTotal);

    /// <summary>outlier_detection.ejections_overflow: ejections refused by max_ejection_percent.</summary>
    public long OutlierEjectionsOverflow => Volatile.Read(ref _ejectionsOverflow);

    /// <summary>outlier_detection.ejections_enforced_total.</summary>
    public long OutlierEjectionsEnforcedTotal => Volatile.Read(ref _ejectionsEnforcedTotal);

    /// <summary>outlier_detection.ejections_enforced_consecutive_5xx.</summary>
    public long OutlierEjectionsEnforcedConsecutive5xx => Volatile.Read(ref _ejectionsEnforcedConsecutive5xx);

    /// <summary>outlier_detection.ejections_detected_consecutive_5xx.</summary>
    public long OutlierEjectionsDetectedConsecutive5xx => Volatile.Read(ref _ejectionsDetectedConsecutive5xx);

    /// <summary>outlier_detection.ejections_enforced_consecutive_gateway_failure.</summary>
    public long OutlierEjectionsEnforcedConsecutiveGatewayFailure => Volatile.Read(ref _ejectionsEnforcedGatewayFailure);

    /// <summary>outlier_detection.ejections_detected_consecutive_gateway_failure.</summary>
    public long OutlierEjectionsDetectedConsecutiveGatewayFailure => Volatile.Read(ref _ejectionsDetectedGatewayFailure);

    /// <summary>outlier_detection.ejections_enforced_success_rate.</summary>
    public long OutlierEjectionsEnforcedSuccessRate => Volatile.Read(ref _ejectionsEnforcedSuccessRate);

    /// <summary>outlier_detection.ejections_detected_success_rate.</summary>
    public long OutlierEjectionsDetectedSuccessRate => Volatile.Read(ref _ejectionsDetectedSuccessRate);

    /// <summary>outlier_detection.ejections_enforced_failure_percentage.</summary>
    public long OutlierEjectionsEnforcedFailurePercentage => Volatile.Read(ref _ejectionsEnforcedFailurePercentage);

    /// <summary>outlier_detection.ejections_detected_failure_percentage.</summary>
    public long OutlierEjectionsDetectedFailurePercentage => Volatile.Read(ref _ejectionsDetectedFailurePercentage);

    /// <summary>upstream_rq_&lt;code&gt;: requests that ended with this exact status (100..599).</summary>
    public long RqWithCode(int code) => (uint)code < (uint)_rqByCode.Length ? Volatile.Read(ref _rqByCode[code]) : 0;

    public void OnRequestStart()
    {
        Interlocked.Increment(ref _rqTotal);
        Interlocked.Increment(ref _rqActive);
    }

    public void OnRequestEnd(int status)
    {
        Interlocked.Decrement(ref _rqActive);
        if (status >= 100 && status < _rqByCode.Length)
        {
            Interlocked.Increment(ref _rqByCode[status]);
        }

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

    public void OnHealthyPanic() => Interlocked.Increment(ref _healthyPanic);

    public void OnPendingOverflow() => Interlocked.Increment(ref _rqPendingOverflow);

    public void OnConnectionOverflow() => Interlocked.Increment(ref _cxOverflow);

    public void OnRetryOverflow() => Interlocked.Increment(ref _rqRetryOverflow);

    public void SetEjectionsActive(long value) => Volatile.Write(ref _ejectionsActive, value);

    public void OnEjectionTotal() => Interlocked.Increment(ref _ejectionsTotal);

    public void OnEjectionOverflow() => Interlocked.Increment(ref _ejectionsOverflow);

    public void OnEjectionEnforced(OutlierEjectionType type)
    {
        Interlocked.Increment(ref _ejectionsEnforcedTotal);
        switch (type)
        {
            case OutlierEjectionType.Consecutive5xx: Interlocked.Increment(ref _ejectionsEnforcedConsecutive5xx); break;
            case OutlierEjectionType.ConsecutiveGatewayFailure: Interlocked.Increment(ref _ejectionsEnforcedGatewayFailure); break;
            case OutlierEjectionType.SuccessRate: Interlocked.Increment(ref _ejectionsEnforcedSuccessRate); break;
            default: Interlocked.Increment(ref _ejectionsEnforcedFailurePercentage); break;
        }
    }

    public void OnEjectionDetected(OutlierEjectionType type)
    {
        switch (type)
        {
            case OutlierEjectionType.Consecutive5xx: Interlocked.Increment(ref _ejectionsDetectedConsecutive5xx); break;
            case OutlierEjectionType.ConsecutiveGatewayFailure: Interlocked.Increment(ref _ejectionsDetectedGatewayFailure); break;
            case OutlierEjectionType.SuccessRate: Interlocked.Increment(ref _ejectionsDetectedSuccessRate); break;
            default: Interlocked.Increment(ref _ejectionsDetectedFailurePercentage); break;
        }
    }
}

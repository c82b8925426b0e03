using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Upstream;

/// <summary>One host's outlier-detection state (Envoy's <c>DetectorHostMonitorImpl</c>).</summary>
internal sealed class OutlierHostMonitor
{
    internal int Consecutive5xx;
    internal int ConsecutiveGatewayFailure;

    /// <summary>Times the host was ejected (for /clusters).</summary>
    public int NumEjections { get; internal set; }

    /// <summary>Multiplier of base_ejection_time for the current or next ejection.</summary>
    public int EjectTimeBackoff { get; internal set; }

    internal long LastEjectionTimestamp;
    internal long? LastUnejectionTimestamp;

    // Two buckets as in Envoy's SuccessRateAccumulator: requests count into the current one; each interval the
    // detector swaps them and reads the one that just closed.
    private SuccessRateBucket _current = new();
    private SuccessRateBucket _closed = new();

    /// <summary>The host's success rate over the last interval when it had enough volume, else -1 (Envoy's /clusters success_rate).</summary>
    public double SuccessRate { get; internal set; } = -1;

    internal void CopyFrom(OutlierHostMonitor other)
    {
        Consecutive5xx = Volatile.Read(ref other.Consecutive5xx);
        ConsecutiveGatewayFailure = Volatile.Read(ref other.ConsecutiveGatewayFailure);
        NumEjections = other.NumEjections;
        EjectTimeBackoff = other.EjectTimeBackoff;
        LastEjectionTimestamp = other.LastEjectionTimestamp;
        LastUnejectionTimestamp = other.LastUnejectionTimestamp;
        SuccessRate = other.SuccessRate;
    }

    internal void Record(bool success)
    {
        var bucket = Volatile.Read(ref _current);
        Interlocked.Increment(ref bucket.Total);
        if (success)
        {
            Interlocked.Increment(ref bucket.Success);
        }
    }

    /// <summary>Closes the current interval; only the detector's timer calls this.</summary>
    internal void SwapBuckets()
    {
        var reuse = _closed;
        Volatile.Write(ref reuse.Success, 0);
        Volatile.Write(ref reuse.Total, 0);
        _closed = Volatile.Read(ref _current);
        Volatile.Write(ref _current, reuse);
    }

    /// <summary>Success percentage and request count of the last closed interval; false when it had no request.</summary>
    internal bool TryGetLastInterval(out double successRate, out long volume)
    {
        volume = Volatile.Read(ref _closed.Total);
        successRate = volume == 0 ? 0 : Volatile.Read(ref _closed.Success) * 100.0 / volume;
        return volume != 0;
    }

    private sealed class SuccessRateBucket
    {
        internal long Success;
        internal long Total;
    }
}

/// <summary>The two consecutive-error detectors honoured here.</summary>
internal enum OutlierEjectionType
{
    Consecutive5xx,
    ConsecutiveGatewayFailure,
    SuccessRate,
    FailurePercentage,
}

/// <summary>
/// Envoy's outlier detector (<c>Outlier::DetectorImpl</c>): consecutive 5xx, consecutive gateway failures, and the
/// per-interval success-rate and failure-percentage detectors, with <c>split_external_local_origin_errors</c> false:
/// every upstream attempt reports one HTTP status (connect failures and resets as 503, timeouts as 504, as Envoy maps
/// local-origin results). Counting is lock-free on the request path; a consecutive-error detection is handed to the
/// thread pool (Envoy posts to its main thread), which ejects under a lock and rebuilds the cluster's balancer once.
/// The interval timer unejects hosts whose ejection time is over and runs the statistical detectors.
/// </summary>
internal sealed class OutlierDetector : IDisposable
{
    private readonly ClusterState _cluster;
    private readonly OutlierDetectionConfig _config;
    private readonly TimeProvider _time;
    private readonly Action<Action> _dispatch;
    private readonly ITimer _timer;
    private readonly object _lock = new();
    private int _ejectionsActive;
    private bool _disposed;

    /// <param name="dispatch">Runs detections off the request path; the thread pool unless a test runs them inline.</param>
    public OutlierDetector(ClusterState cluster, OutlierDetectionConfig config, TimeProvider time, Action<Action>? dispatch = null)
    {
        _cluster = cluster;
        _config = config;
        _time = time;
        _dispatch = dispatch ?? (static action => ThreadPool.UnsafeQueueUserWorkItem(static a => a(), action, preferLocal: false));
        foreach (var host in cluster.Hosts)
        {
            host.Outlier = new OutlierHostMonitor();
        }

        _timer = time.CreateTimer(static state => ((OutlierDetector)state!).OnIntervalTimer(), this, config.Interval, config.Interval);
    }

    public OutlierDetectionConfig Config => _config;

    /// <summary>The cluster's mean success rate over the last interval, or -1 when too few hosts had the volume.</summary>
    public double SuccessRateMean { get; private set; } = -1;

    /// <summary>The success rate below which a host was ejected over the last interval, or -1.</summary>
    public double SuccessRateEjectionThreshold { get; private set; } = -1;

    /// <summary>
    /// The status Envoy's router gives the outlier detector for a gRPC response: when the response headers carry
    /// grpc-status (a trailers-only response), that status mapped by <c>Grpc::Utility::grpcToHttpStatus</c>, whatever
    /// the HTTP status; otherwise the HTTP status. (A grpc-status in trailers is not reported.)
    /// </summary>
    public static int GrpcAwareStatus(System.Net.Http.Headers.HttpResponseHeaders headers, int httpStatus)
    {
        if (!headers.NonValidated.TryGetValues("grpc-status", out var values)
            || !int.TryParse(values.ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var grpcStatus))
        {
            return httpStatus;
        }

        return GrpcToHttpStatus(grpcStatus);
    }

    /// <summary>Envoy's <c>Grpc::Utility::grpcToHttpStatus</c>.</summary>
    public static int GrpcToHttpStatus(int grpcStatus) => grpcStatus switch
    {
        0 => 200, // OK
        1 => 499, // CANCELLED
        2 => 500, // UNKNOWN
        3 => 400, // INVALID_ARGUMENT
        4 => 504, // DEADLINE_EXCEEDED
        5 => 404, // NOT_FOUND
        6 => 409, // ALREADY_EXISTS
        7 => 403, // PERMISSION_DENIED
        8 => 429, // RESOURCE_EXHAUSTED
        9 => 400, // FAILED_PRECONDITION
        10 => 409, // ABORTED
        11 => 400, // OUT_OF_RANGE
        12 => 501, // UNIMPLEMENTED
        13 => 500, // INTERNAL
        14 => 503, // UNAVAILABLE
        15 => 500, // DATA_LOSS
        16 => 401, // UNAUTHENTICATED
        _ => 500,
    };

    /// <summary>Reports the outcome of one upstream attempt on <paramref name="host"/>.</summary>
    /// <param name="status">The upstream status, or 503 for a connect failure or reset, 504 for a timeout.</param>
    public void ReportStatus(HostState host, int status)
    {
        var monitor = host.Outlier;
        if (monitor is null)
        {
            return;
        }

        var is5xx = status is >= 500 and < 600;
        monitor.Record(success: !is5xx);
        if (is5xx)
        {
            if (status is 502 or 503 or 504)
            {
                if (Interlocked.Increment(ref monitor.ConsecutiveGatewayFailure) == _config.ConsecutiveGatewayFailure)
                {
                    Detected(host, OutlierEjectionType.ConsecutiveGatewayFailure);
                }
            }
            else if (Volatile.Read(ref monitor.ConsecutiveGatewayFailure) != 0)
            {
                Volatile.Write(ref monitor.ConsecutiveGatewayFailure, 0);
            }

            if (Interlocked.Increment(ref monitor.Consecutive5xx) == _config.Consecutive5xx)
            {
                Detected(host, OutlierEjectionType.Consecutive5xx);
            }

            return;
        }

        // Reads first so the common success path does not write the shared counters.
        if (Volatile.Read(ref monitor.Consecutive5xx) != 0)
        {
            Volatile.Write(ref monitor.Consecutive5xx, 0);
        }

        if (Volatile.Read(ref monitor.ConsecutiveGatewayFailure) != 0)
        {
            Volatile.Write(ref monitor.ConsecutiveGatewayFailure, 0);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
        }

        _timer.Dispose();
    }

    /// <summary>
    /// Takes over the ejections, backoffs and consecutive counters of the hosts (same address) that were in the
    /// cluster's previous state, as Envoy's detector keeps its host monitors across membership updates.
    /// </summary>
    internal void CarryOver(OutlierDetector previous, ClusterState previousCluster)
    {
        lock (previous._lock)
        {
            lock (_lock)
            {
                foreach (var host in _cluster.Hosts)
                {
                    if (host.Outlier is not { } monitor || previousCluster.FindHost(host.EndPoint) is not { Outlier: { } old } oldHost)
                    {
                        continue;
                    }

                    monitor.CopyFrom(old);
                    if (oldHost.IsEjected)
                    {
                        host.SetEjected(true);
                        _ejectionsActive++;
                    }
                }

                _cluster.Stats.SetEjectionsActive(_ejectionsActive);
            }
        }
    }

    private void Detected(HostState host, OutlierEjectionType type) => _dispatch(() => OnConsecutiveError(host, type));

    private void OnConsecutiveError(HostState host, OutlierEjectionType type)
    {
        bool ejected;
        lock (_lock)
        {
            if (_disposed || host.IsEjected || host.Outlier is not { } monitor)
            {
                return;
            }

            _cluster.Stats.OnEjectionDetected(type);
            ejected = Eject(host, monitor, type);

            // Reset the counter that fired so a new run of errors is needed, even without a success in between.
            if (type == OutlierEjectionType.Consecutive5xx)
            {
                Volatile.Write(ref monitor.Consecutive5xx, 0);
            }
            else
            {
                Volatile.Write(ref monitor.ConsecutiveGatewayFailure, 0);
            }
        }

        if (ejected)
        {
            _cluster.RebuildBalancer();
        }
    }

    private bool Eject(HostState host, OutlierHostMonitor monitor, OutlierEjectionType type)
    {
        var stats = _cluster.Stats;
        var maxPercent = Math.Min(100, _config.MaxEjectionPercent);
        // Envoy counts the host about to be ejected; with always_eject_one_host unset (not supported here) a cluster
        // with fewer than 100 / max_ejection_percent hosts never ejects (3 hosts at the default 10 %: 33 % > 10 %).
        var ejectedPercent = 100.0 * (_ejectionsActive + 1) / _cluster.Hosts.Count;
        if (ejectedPercent > maxPercent)
        {
            stats.OnEjectionOverflow();
            return false;
        }

        if (type is OutlierEjectionType.Consecutive5xx or OutlierEjectionType.SuccessRate)
        {
            // Envoy's deprecated ejections_total counts these two kinds, enforced or not.
            stats.OnEjectionTotal();
        }

        var enforcing = type switch
        {
            OutlierEjectionType.Consecutive5xx => _config.EnforcingConsecutive5xx,
            OutlierEjectionType.ConsecutiveGatewayFailure => _config.EnforcingConsecutiveGatewayFailure,
            OutlierEjectionType.SuccessRate => _config.EnforcingSuccessRate,
            _ => _config.EnforcingFailurePercentage,
        };
        if (enforcing <= 0 || (enforcing < 100 && Random.Shared.Next(100) >= enforcing))
        {
            return false;
        }

        _ejectionsActive++;
        stats.SetEjectionsActive(_ejectionsActive);
        stats.OnEjectionEnforced(type);

        host.SetEjected(true);
        monitor.NumEjections++;
        monitor.LastEjectionTimestamp = _time.GetTimestamp();
        // The backoff grows while the product stays below max + base, so the ejection time is capped at max.
        if ((monitor.EjectTimeBackoff * _config.BaseEjectionTime) < (_config.MaxEjectionTime + _config.BaseEjectionTime))
        {
            monitor.EjectTimeBackoff++;
        }

        return true;
    }

    private void OnIntervalTimer()
    {
        var changed = false;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            var now = _time.GetTimestamp();
            foreach (var host in _cluster.Hosts)
            {
                if (host.Outlier is not { } monitor)
                {
                    continue;
                }

                monitor.SwapBuckets();
                monitor.SuccessRate = -1;
                if (!host.IsEjected)
                {
                    continue;
                }

                var ejectionTime = _config.BaseEjectionTime * monitor.EjectTimeBackoff;
                if (ejectionTime > _config.MaxEjectionTime)
                {
                    ejectionTime = _config.MaxEjectionTime;
                }

                if (ejectionTime <= _time.GetElapsedTime(monitor.LastEjectionTimestamp, now))
                {
                    _ejectionsActive--;
                    _cluster.Stats.SetEjectionsActive(_ejectionsActive);
                    host.SetEjected(false);
                    Volatile.Write(ref monitor.Consecutive5xx, 0);
                    Volatile.Write(ref monitor.ConsecutiveGatewayFailure, 0);
                    monitor.LastUnejectionTimestamp = now;
                    changed = true;
                }
            }

            changed |= ProcessSuccessRate();

            // A host that stayed in service for an interval since its unejection earns one step of backoff back.
            foreach (var host in _cluster.Hosts)
            {
                if (host.IsEjected || host.Outlier is not { LastUnejectionTimestamp: { } unejected } monitor)
                {
                    continue;
                }

                if (_time.GetElapsedTime(unejected, now) >= _config.Interval && monitor.EjectTimeBackoff > 0)
                {
                    monitor.EjectTimeBackoff--;
                }
            }
        }

        if (changed)
        {
            _cluster.RebuildBalancer();
        }
    }

    /// <summary>
    /// Envoy's <c>processSuccessRateEjections</c> over the interval that just closed: hosts with enough requests are
    /// compared with the cluster (success rate below mean - factor * stdev) and with an absolute failure percentage.
    /// </summary>
    private bool ProcessSuccessRate()
    {
        var hosts = _cluster.Hosts;
        if (hosts.Count < _config.SuccessRateMinimumHosts && hosts.Count < _config.FailurePercentageMinimumHosts)
        {
            return false;
        }

        var minimumVolume = Math.Min(_config.SuccessRateRequestVolume, _config.FailurePercentageRequestVolume);
        var successRateHosts = new List<(HostState Host, double Rate)>();
        var failurePercentageHosts = new List<(HostState Host, double Rate)>();
        var sum = 0.0;
        foreach (var host in hosts)
        {
            if (host.IsEjected || host.Outlier is not { } monitor || !monitor.TryGetLastInterval(out var rate, out var volume))
            {
                continue;
            }

            if (volume >= minimumVolume)
            {
                monitor.SuccessRate = rate;
            }

            if (volume >= _config.SuccessRateRequestVolume)
            {
                successRateHosts.Add((host, rate));
                sum += rate;
            }

            if (volume >= _config.FailurePercentageRequestVolume)
            {
                failurePercentageHosts.Add((host, rate));
            }
        }

        var changed = false;
        if (successRateHosts.Count > 0 && successRateHosts.Count >= _config.SuccessRateMinimumHosts)
        {
            var mean = sum / successRateHosts.Count;
            var variance = 0.0;
            foreach (var (_, rate) in successRateHosts)
            {
                variance += (rate - mean) * (rate - mean);
            }

            var threshold = mean - (_config.SuccessRateStdevFactor / 1000.0 * Math.Sqrt(variance / successRateHosts.Count));
            SuccessRateMean = mean;
            SuccessRateEjectionThreshold = threshold;
            foreach (var (host, rate) in successRateHosts)
            {
                if (rate < threshold)
                {
                    changed |= DetectedInInterval(host, OutlierEjectionType.SuccessRate);
                }
            }
        }
        else
        {
            SuccessRateMean = -1;
            SuccessRateEjectionThreshold = -1;
        }

        if (failurePercentageHosts.Count > 0 && failurePercentageHosts.Count >= _config.FailurePercentageMinimumHosts)
        {
            foreach (var (host, rate) in failurePercentageHosts)
            {
                if (100.0 - rate >= _config.FailurePercentageThreshold)
                {
                    changed |= DetectedInInterval(host, OutlierEjectionType.FailurePercentage);
                }
            }
        }

        return changed;
    }

    private bool DetectedInInterval(HostState host, OutlierEjectionType type)
    {
        _cluster.Stats.OnEjectionDetected(type);
        // A host already ejected by the success-rate pass is not ejected twice by the failure-percentage pass.
        return !host.IsEjected && host.Outlier is { } monitor && Eject(host, monitor, type);
    }
}

using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Upstream;

/// <summary>
/// The cluster's circuit breakers for the DEFAULT routing priority (Envoy's <c>ResourceManagerImpl</c>): counters
/// shared by all workers, so the limits hold per cluster, not per worker pool. Acquire is one interlocked increment
/// that is undone when it passes the limit, so a limit is never exceeded (Envoy's check-then-increment can overshoot
/// briefly under contention).
/// </summary>
internal sealed class ClusterResources
{
    private readonly SemaphoreSlim _connectionSlots;
    private long _requests;
    private long _pendingRequests;
    private long _retries;
    private long _connections;

    public ClusterResources(CircuitBreakerThresholds limits)
    {
        Limits = limits;
        _connectionSlots = new SemaphoreSlim((int)Math.Clamp(limits.MaxConnections, 0, int.MaxValue));
    }

    public CircuitBreakerThresholds Limits { get; }

    /// <summary>Upstream requests in flight on the cluster (Envoy's <c>rq_open</c> gauge counts against max_requests).</summary>
    public long ActiveRequests => Volatile.Read(ref _requests);

    /// <summary>Connection attempts waiting for a max_connections slot (what max_pending_requests limits here).</summary>
    public long PendingRequests => Volatile.Read(ref _pendingRequests);

    /// <summary>Retries in flight (max_retries).</summary>
    public long ActiveRetries => Volatile.Read(ref _retries);

    /// <summary>Open upstream connections of the cluster across all workers.</summary>
    public long ActiveConnections => Volatile.Read(ref _connections);

    public bool TryAcquireRequest() => TryAcquire(ref _requests, Limits.MaxRequests);

    public void ReleaseRequest() => Interlocked.Decrement(ref _requests);

    public bool TryAcquirePending() => TryAcquire(ref _pendingRequests, Limits.MaxPendingRequests);

    public void ReleasePending() => Interlocked.Decrement(ref _pendingRequests);

    public bool TryAcquireRetry() => TryAcquire(ref _retries, Limits.MaxRetries);

    public void ReleaseRetry() => Interlocked.Decrement(ref _retries);

    /// <summary>Takes a max_connections slot if one is free now.</summary>
    public bool TryAcquireConnection()
    {
        if (!_connectionSlots.Wait(0))
        {
            return false;
        }

        Interlocked.Increment(ref _connections);
        return true;
    }

    /// <summary>Waits until another connection of the cluster closes and its slot can be taken.</summary>
    public async ValueTask WaitForConnectionAsync(CancellationToken cancellationToken)
    {
        await _connectionSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _connections);
    }

    /// <summary>Counts a connection opened beyond max_connections (a worker pool with no connection at all still gets one).</summary>
    public void AcquireConnectionOverLimit() => Interlocked.Increment(ref _connections);

    public void ReleaseConnection(bool heldSlot)
    {
        Interlocked.Decrement(ref _connections);
        if (heldSlot)
        {
            _connectionSlots.Release();
        }
    }

    private static bool TryAcquire(ref long counter, long limit)
    {
        if (Interlocked.Increment(ref counter) <= limit)
        {
            return true;
        }

        Interlocked.Decrement(ref counter);
        return false;
    }
}

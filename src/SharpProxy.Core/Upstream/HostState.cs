using System.Net;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Upstream;

/// <summary>How load balancing sees a host: Envoy's healthy, degraded and unhealthy host lists.</summary>
internal enum HostAvailability
{
    Healthy,
    Degraded,
    Unhealthy,
}

/// <summary>One upstream host of a cluster: its address and its live counters (shared by all workers).</summary>
internal sealed class HostState
{
    private long _activeRequests;
    private long _totalRequests;
    private long _activeConnections;
    private long _totalConnections;
    private long _connectFailures;
    private long _errors;
    private int _ejected;

    public HostState(EndpointConfig config, IPEndPoint endPoint)
    {
        Config = config;
        EndPoint = endPoint;
        Authority = endPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? "[" + endPoint.Address + "]:" + endPoint.Port
            : endPoint.Address + ":" + endPoint.Port;
        BaseUri = "http://" + Authority;
    }

    public EndpointConfig Config { get; }

    public IPEndPoint EndPoint { get; }

    /// <summary>"ip:port", as Envoy names hosts in /clusters and uses as the default hash key.</summary>
    public string Authority { get; }

    /// <summary>"http://ip:port" prefix for request URIs.</summary>
    public string BaseUri { get; }

    /// <summary>"https://ip:port": HTTP/2 over TLS, where the HTTP handler runs the TLS itself so that :scheme is https.</summary>
    public string SecureBaseUri => field ??= "https://" + Authority;

    /// <summary>
    /// This host's upstream TLS context (the cluster's transport_socket, or its transport_socket_matches entry for the
    /// endpoint's metadata), worked out once: a host belongs to one cluster config for its life.
    /// </summary>
    public Configuration.UpstreamTlsConfig? TlsFor(Configuration.ClusterConfig cluster)
    {
        if (Volatile.Read(ref _tlsResolved) == 0)
        {
            _tls = Tls.UpstreamTlsContext.Select(cluster, Config.Metadata);
            Volatile.Write(ref _tlsResolved, 1);
        }

        return _tls;
    }

    private Configuration.UpstreamTlsConfig? _tls;
    private int _tlsResolved;

    public uint Weight => Config.Weight;

    /// <summary>Envoy treats HEALTHY, UNKNOWN and DEGRADED as usable; UNHEALTHY, DRAINING and TIMEOUT as not.</summary>
    public bool IsUsable => Config.Health is EndpointHealthStatus.Healthy or EndpointHealthStatus.Unknown or EndpointHealthStatus.Degraded;

    /// <summary>
    /// Envoy's coarse health: UNHEALTHY, DRAINING and TIMEOUT endpoints and hosts ejected by outlier detection are
    /// unhealthy; DEGRADED endpoints are degraded; HEALTHY and UNKNOWN are healthy.
    /// </summary>
    public HostAvailability Availability => IsEjected
        ? HostAvailability.Unhealthy
        : Config.Health switch
        {
            EndpointHealthStatus.Healthy or EndpointHealthStatus.Unknown => HostAvailability.Healthy,
            EndpointHealthStatus.Degraded => HostAvailability.Degraded,
            _ => HostAvailability.Unhealthy,
        };

    /// <summary>True while outlier detection has ejected the host (Envoy's FAILED_OUTLIER_CHECK flag).</summary>
    public bool IsEjected => Volatile.Read(ref _ejected) != 0;

    /// <summary>The host's outlier-detection counters, when the cluster has outlier_detection.</summary>
    public OutlierHostMonitor? Outlier { get; internal set; }

    public long ActiveRequests => Volatile.Read(ref _activeRequests);

    public long TotalRequests => Volatile.Read(ref _totalRequests);

    public long ActiveConnections => Volatile.Read(ref _activeConnections);

    public long TotalConnections => Volatile.Read(ref _totalConnections);

    public long ConnectFailures => Volatile.Read(ref _connectFailures);

    public long Errors => Volatile.Read(ref _errors);

    public void OnRequestStart()
    {
        Interlocked.Increment(ref _activeRequests);
        Interlocked.Increment(ref _totalRequests);
    }

    public void OnRequestEnd(int status)
    {
        Interlocked.Decrement(ref _activeRequests);
        if (status >= 500)
        {
            Interlocked.Increment(ref _errors);
        }
    }

    public void OnConnectionOpened()
    {
        Interlocked.Increment(ref _activeConnections);
        Interlocked.Increment(ref _totalConnections);
    }

    public void OnConnectionClosed() => Interlocked.Decrement(ref _activeConnections);

    public void OnConnectFailure() => Interlocked.Increment(ref _connectFailures);

    internal void SetEjected(bool ejected) => Volatile.Write(ref _ejected, ejected ? 1 : 0);
}

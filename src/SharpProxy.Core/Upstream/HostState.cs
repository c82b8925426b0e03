using System.Net;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Upstream;

/// <summary>One upstream host of a cluster: its address and its live counters (shared by all workers).</summary>
internal sealed class HostState
{
    private long _activeRequests;
    private long _totalRequests;
    private long _activeConnections;
    private long _totalConnections;
    private long _connectFailures;
    private long _errors;

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

    public uint Weight => Config.Weight;

    /// <summary>Envoy treats HEALTHY, UNKNOWN and DEGRADED as usable; UNHEALTHY, DRAINING and TIMEOUT as not.</summary>
    public bool IsUsable => Config.Health is EndpointHealthStatus.Healthy or EndpointHealthStatus.Unknown or EndpointHealthStatus.Degraded;

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
}

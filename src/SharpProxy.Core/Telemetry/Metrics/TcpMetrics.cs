using SharpProxy.Core.Configuration;
using SharpProxy.Core.Filters;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.Telemetry.Metrics;

/// <summary>
/// The hook the TCP proxy calls for Istio's TCP metrics. Once per connection, when the upstream is chosen:
/// <code>
/// var tcp = TcpMetrics.Series(listener.Direction, cluster, host);   // or responseFlags: "UF" when the connect failed
/// tcp.ConnectionOpened();
/// ... tcp.AddReceivedBytes(n) for bytes read from the downstream, tcp.AddSentBytes(n) for bytes written to it ...
/// tcp.ConnectionClosed();
/// </code>
/// Every call after the lookup is one interlocked add; nothing allocates.
/// </summary>
internal static class TcpMetrics
{
    public static IstioTcpSeries Series(TrafficDirection direction, ClusterState? cluster, HostState? host, string responseFlags = ResponseFlags.None) =>
        StatsStore.Process.Istio.TcpSeries(direction, cluster, host, responseFlags);
}

using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Upstream;

/// <summary>What routing decided for one request; the forwarder's whole input besides the HttpContext.</summary>
internal sealed class ForwardContext
{
    public required HttpConnectionManagerConfig Http { get; init; }

    public required ClusterState Cluster { get; init; }

    public required HostState Host { get; init; }

    public required int Worker { get; init; }

    public required string Path { get; init; }

    public required string Query { get; init; }

    public required string Authority { get; init; }

    public required TimeSpan Timeout { get; init; }

    public required bool IsGrpc { get; init; }

    public required bool AllowWebSocket { get; init; }

    public required RouteTableConfig Table { get; init; }

    public required VirtualHostConfig VirtualHost { get; init; }

    public required RouteConfig Route { get; init; }

    public WeightedClusterConfig? WeightedCluster { get; init; }

    /// <summary>The route's retry policy (or the virtual host's); null means one try.</summary>
    public RetryPolicyConfig? RetryPolicy { get; init; }

    /// <summary>The request hash from the route's hash policies, reused when a retry asks the balancer again.</summary>
    public ulong? Hash { get; init; }
}

using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;

namespace SharpProxy.Xds.Bootstrap;

/// <summary>Every message type SharpProxy understands, for Any resolution in JSON and in xDS resources.</summary>
internal static class ApiTypes
{
    public const string TypePrefix = "type.googleapis.com/";

    public static readonly FileDescriptor[] Files =
    [
        Api.Config.AccessLog.V3.AccesslogReflection.Descriptor,
        Api.Config.Bootstrap.V3.BootstrapReflection.Descriptor,
        Api.Config.Cluster.V3.ClusterReflection.Descriptor,
        Api.Config.Cluster.V3.CircuitBreakerReflection.Descriptor,
        Api.Config.Cluster.V3.OutlierDetectionReflection.Descriptor,
        Api.Config.Core.V3.AddressReflection.Descriptor,
        Api.Config.Core.V3.BaseReflection.Descriptor,
        Api.Config.Core.V3.ConfigSourceReflection.Descriptor,
        Api.Config.Core.V3.ExtensionReflection.Descriptor,
        Api.Config.Core.V3.GrpcServiceReflection.Descriptor,
        Api.Config.Core.V3.HeaderValueReflection.Descriptor,
        Api.Config.Core.V3.HealthCheckReflection.Descriptor,
        Api.Config.Core.V3.ProtocolReflection.Descriptor,
        Api.Config.Core.V3.HttpServiceReflection.Descriptor,
        Api.Config.Core.V3.HttpUriReflection.Descriptor,
        Api.Config.Core.V3.SubstitutionFormatStringReflection.Descriptor,
        Api.Config.Trace.V3.HttpTracerReflection.Descriptor,
        Api.Config.Trace.V3.OpentelemetryReflection.Descriptor,
        Api.Config.Endpoint.V3.EndpointReflection.Descriptor,
        Api.Config.Endpoint.V3.EndpointComponentsReflection.Descriptor,
        Api.Config.Listener.V3.ListenerReflection.Descriptor,
        Api.Config.Listener.V3.ListenerComponentsReflection.Descriptor,
        Api.Config.Route.V3.RouteReflection.Descriptor,
        Api.Config.Route.V3.RouteComponentsReflection.Descriptor,
        Api.Extensions.AccessLoggers.File.V3.FileReflection.Descriptor,
        Api.Extensions.AccessLoggers.Stream.V3.StreamReflection.Descriptor,
        Api.Extensions.Filters.Common.Fault.V3.FaultReflection.Descriptor,
        Api.Extensions.Filters.Http.Fault.V3.FaultReflection.Descriptor,
        Api.Extensions.Filters.Http.Router.V3.RouterReflection.Descriptor,
        Api.Extensions.Filters.Network.HttpConnectionManager.V3.HttpConnectionManagerReflection.Descriptor,
        Api.Extensions.LoadBalancingPolicies.LeastRequest.V3.LeastRequestReflection.Descriptor,
        Api.Extensions.LoadBalancingPolicies.Maglev.V3.MaglevReflection.Descriptor,
        Api.Extensions.LoadBalancingPolicies.Random.V3.RandomReflection.Descriptor,
        Api.Extensions.LoadBalancingPolicies.RingHash.V3.RingHashReflection.Descriptor,
        Api.Extensions.LoadBalancingPolicies.RoundRobin.V3.RoundRobinReflection.Descriptor,
        Api.Extensions.Retry.Host.PreviousHosts.V3.PreviousHostsReflection.Descriptor,
        Api.Extensions.Filters.Network.TcpProxy.V3.TcpProxyReflection.Descriptor,
        Api.Extensions.Filters.Listener.OriginalDst.V3.OriginalDstReflection.Descriptor,
        Api.Extensions.Upstreams.Http.V3.HttpProtocolOptionsReflection.Descriptor,
        Api.Extensions.Filters.Listener.TlsInspector.V3.TlsInspectorReflection.Descriptor,
        Api.Extensions.TransportSockets.RawBuffer.V3.RawBufferReflection.Descriptor,
        Api.Extensions.TransportSockets.Tls.V3.CommonReflection.Descriptor,
        Api.Extensions.TransportSockets.Tls.V3.SecretReflection.Descriptor,
        Api.Extensions.TransportSockets.Tls.V3.TlsReflection.Descriptor,
        Api.Service.Discovery.V3.DiscoveryReflection.Descriptor,
        Api.Type.Matcher.V3.RegexReflection.Descriptor,
        Api.Type.Matcher.V3.StringReflection.Descriptor,
        Api.Type.V3.PercentReflection.Descriptor,
        Api.Type.Tracing.V3.CustomTagReflection.Descriptor,
        Api.Type.V3.RangeReflection.Descriptor,
        Api.Rpc.StatusReflection.Descriptor,
        StructReflection.Descriptor,
        DurationReflection.Descriptor,
        WrappersReflection.Descriptor,
        AnyReflection.Descriptor,
        EmptyReflection.Descriptor,
    ];

    public static readonly TypeRegistry Registry = TypeRegistry.FromFiles(Files);

    /// <summary>
    /// Builds every descriptor on a thread-pool thread: the costliest step of loading a bootstrap (type loading,
    /// reflection over each generated property and JIT, ~90 ms), so that with a second core it overlaps reading the
    /// YAML and building the host. A thread that needs a descriptor meanwhile waits for its type initializer; the
    /// initializers follow the proto imports, which have no cycles, so the two threads cannot deadlock.
    /// </summary>
    public static void StartBuildingDescriptors() => ThreadPool.UnsafeQueueUserWorkItem(static _ => GC.KeepAlive(Registry), null);

    public static MessageDescriptor? Find(string typeUrl)
    {
        var slash = typeUrl.LastIndexOf('/');
        return Registry.Find(slash >= 0 ? typeUrl[(slash + 1)..] : typeUrl);
    }
}

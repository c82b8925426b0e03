using Google.Protobuf.WellKnownTypes;
using SharpProxy.Xds.Ads;
using SharpProxy.Xds.Api.Config.Cluster.V3;
using SharpProxy.Xds.Api.Config.Core.V3;
using SharpProxy.Xds.Api.Config.Listener.V3;
using SharpProxy.Xds.Api.Extensions.TransportSockets.Tls.V3;

namespace SharpProxy.Xds.Tests.Ads;

/// <summary>A TLS field outside our descriptors (ecdh_curves, #4 of TlsParameters) inside a transport socket is found, not skipped.</summary>
public sealed class TlsUnknownFieldsTests
{
    // TlsParameters with field 4 (ecdh_curves) = "X", which our subset does not describe.
    private static readonly byte[] ParametersWithEcdhCurves = [0x22, 0x01, (byte)'X'];

    [Fact]
    public void FindInListener_UnknownFieldInDownstreamTlsContext_Reported()
    {
        var context = new DownstreamTlsContext { CommonTlsContext = new CommonTlsContext { TlsParams = TlsParameters.Parser.ParseFrom(ParametersWithEcdhCurves) } };
        var listener = new Listener { Name = "l" };
        listener.FilterChains.Add(new FilterChain { TransportSocket = new TransportSocket { Name = "envoy.transport_sockets.tls", TypedConfig = Any.Pack(context) } });

        var found = UnknownFields.FindInListener(listener, "listener 'l'", []);

        var entry = Assert.Single(found);
        Assert.Contains("filter_chains[0].transport_socket.typed_config", entry, StringComparison.Ordinal);
        Assert.EndsWith("#4", entry, StringComparison.Ordinal);
    }

    [Fact]
    public void FindInCluster_UnknownFieldInTransportSocketMatch_Reported()
    {
        var context = new UpstreamTlsContext { CommonTlsContext = new CommonTlsContext { TlsParams = TlsParameters.Parser.ParseFrom(ParametersWithEcdhCurves) } };
        var cluster = new Cluster { Name = "c" };
        cluster.TransportSocketMatches.Add(new Cluster.Types.TransportSocketMatch
        {
            Name = "tlsMode-istio",
            TransportSocket = new TransportSocket { Name = "envoy.transport_sockets.tls", TypedConfig = Any.Pack(context) },
        });

        var found = UnknownFields.FindInCluster(cluster, "cluster 'c'", []);

        var entry = Assert.Single(found);
        Assert.Contains("transport_socket_matches[0].transport_socket.typed_config", entry, StringComparison.Ordinal);
    }
}

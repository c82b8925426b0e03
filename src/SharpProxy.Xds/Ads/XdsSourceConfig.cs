using System.Net;
using SharpProxy.Xds.Translation;
using BootstrapApi = SharpProxy.Xds.Api.Config.Bootstrap.V3;
using CoreApi = SharpProxy.Xds.Api.Config.Core.V3;

namespace SharpProxy.Xds.Ads;

/// <summary>Where and how to reach the ADS server, from the bootstrap's <c>dynamic_resources</c> and its xDS cluster.</summary>
internal sealed record XdsSourceConfig
{
    /// <summary>Envoy's initial_fetch_timeout default: startup never waits longer than this for a resource.</summary>
    public static readonly TimeSpan DefaultInitialFetchTimeout = TimeSpan.FromSeconds(15);

    public required bool Delta { get; init; }

    public required string ClusterName { get; init; }

    /// <summary>The :authority of the stream (envoy_grpc.authority, else the cluster name, as Envoy does).</summary>
    public required string Authority { get; init; }

    /// <summary>TCP address of the server; null when <see cref="UnixSocketPath"/> is used.</summary>
    public IPEndPoint? EndPoint { get; init; }

    /// <summary>Unix domain socket path (Istio's pilot-agent serves xDS on one); null for TCP.</summary>
    public string? UnixSocketPath { get; init; }

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The xDS cluster's transport_socket (UpstreamTlsContext): the ADS stream runs over TLS with ALPN h2.</summary>
    public Core.Configuration.UpstreamTlsConfig? Tls { get; init; }

    /// <summary>Zero disables the timeout (then startup waits for LDS and CDS and what they name).</summary>
    public TimeSpan InitialFetchTimeout { get; init; } = DefaultInitialFetchTimeout;

    public required CoreApi.Node Node { get; init; }

    /// <summary>Reads and checks <c>dynamic_resources</c>; null (with errors) when it cannot be honoured.</summary>
    public static XdsSourceConfig? Read(BootstrapApi.Bootstrap bootstrap, TranslationErrors errors)
    {
        const string Path = "dynamic_resources";
        var dynamic = bootstrap.DynamicResources;
        if (dynamic.AdsConfig is not { } ads)
        {
            errors.Add(Path + ".ads_config", "SharpProxy fetches dynamic resources over ADS only: ads_config is required");
            return null;
        }

        var delta = ads.ApiType switch
        {
            CoreApi.ApiConfigSource.Types.ApiType.Grpc or CoreApi.ApiConfigSource.Types.ApiType.AggregatedGrpc => false,
            CoreApi.ApiConfigSource.Types.ApiType.DeltaGrpc or CoreApi.ApiConfigSource.Types.ApiType.AggregatedDeltaGrpc => (bool?)true,
            _ => null,
        };
        if (delta is null)
        {
            errors.Add(Path + ".ads_config.api_type", $"{ads.ApiType} is not supported (GRPC or DELTA_GRPC)");
        }

        if (ads.TransportApiVersion != CoreApi.ApiVersion.V3)
        {
            errors.Add(Path + ".ads_config.transport_api_version", "must be V3");
        }

        if (ads.ClusterNames.Count > 0 || ads.RefreshDelay is not null || ads.RequestTimeout is not null)
        {
            errors.NotYetSupported(Path + ".ads_config", "cluster_names/refresh_delay/request_timeout (REST-style sources)");
        }

        var initialFetch = DefaultInitialFetchTimeout;
        CheckAdsSource(dynamic.LdsConfig, Path + ".lds_config", errors, ref initialFetch);
        CheckAdsSource(dynamic.CdsConfig, Path + ".cds_config", errors, ref initialFetch);

        if (ads.GrpcServices.Count != 1 || ads.GrpcServices[0].EnvoyGrpc is not { } envoyGrpc || envoyGrpc.ClusterName.Length == 0)
        {
            errors.Add(Path + ".ads_config.grpc_services", "exactly one grpc_services entry with envoy_grpc.cluster_name is required");
            return null;
        }

        var clusterIndex = -1;
        var clusters = bootstrap.StaticResources?.Clusters;
        for (var i = 0; clusters is not null && i < clusters.Count; i++)
        {
            if (clusters[i].Name == envoyGrpc.ClusterName)
            {
                clusterIndex = i;
                break;
            }
        }

        if (clusterIndex < 0)
        {
            errors.Add(Path + ".ads_config.grpc_services[0].envoy_grpc.cluster_name", $"'{envoyGrpc.ClusterName}' is not a static cluster");
            return null;
        }

        var clusterPath = "static_resources.clusters[" + clusterIndex + "]";
        var cluster = clusters![clusterIndex];
        var endpoints = cluster.LoadAssignment?.Endpoints;
        if (endpoints is null || endpoints.Count != 1 || endpoints[0].LbEndpoints.Count != 1 || endpoints[0].LbEndpoints[0].Endpoint?.Address is null)
        {
            errors.Add(clusterPath + ".load_assignment", "the xDS cluster needs exactly one endpoint");
            return null;
        }

        var address = endpoints[0].LbEndpoints[0].Endpoint.Address;
        IPEndPoint? endPoint = null;
        string? socketPath = null;
        if (address.AddressCase == CoreApi.Address.AddressOneofCase.Pipe)
        {
            socketPath = address.Pipe.Path;
            if (socketPath.Length == 0)
            {
                errors.Add(clusterPath + ".load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.pipe.path", "a socket path is required");
                return null;
            }
        }
        else if (ProtoConvert.TryGetSocketAddress(address, clusterPath + ".load_assignment.endpoints[0].lb_endpoints[0].endpoint.address", errors, out var ip, out var port))
        {
            if (!IPAddress.TryParse(ip, out var parsed))
            {
                errors.Add(clusterPath + ".load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address", "the xDS server must be an IP address");
                return null;
            }

            endPoint = new IPEndPoint(parsed, port);
        }
        else
        {
            return null;
        }

        // TLS to the control plane from the cluster's own transport_socket (static certificates: SDS would need the
        // very stream it secures).
        var tls = TlsTranslator.TranslateUpstream(cluster.TransportSocket, clusterPath + ".transport_socket", errors);
        if (cluster.TransportSocketMatches.Count > 0)
        {
            errors.Add(clusterPath + ".transport_socket_matches", "the xDS cluster has one endpoint: give its TLS as transport_socket");
        }

        var node = bootstrap.Node ?? new CoreApi.Node();
        if (node.Id.Length == 0)
        {
            errors.Add("node.id", "an xDS server needs the node id (Istio's has four '~'-separated parts)");
        }

        return delta is null
            ? null
            : new XdsSourceConfig
            {
                Delta = delta.Value,
                ClusterName = envoyGrpc.ClusterName,
                Authority = envoyGrpc.Authority.Length > 0 ? envoyGrpc.Authority : AuthorityFor(envoyGrpc.ClusterName),
                EndPoint = endPoint,
                UnixSocketPath = socketPath,
                ConnectTimeout = cluster.ConnectTimeout is null ? TimeSpan.FromSeconds(5) : cluster.ConnectTimeout.ToTimeSpan(),
                Tls = tls,
                InitialFetchTimeout = initialFetch,
                Node = node,
            };
    }

    /// <summary>A cluster name is not always a valid URI host (Istio's contain '|'); fall back to a neutral one.</summary>
    private static string AuthorityFor(string clusterName) =>
        Uri.CheckHostName(clusterName) == UriHostNameType.Dns ? clusterName : "xds";

    private static void CheckAdsSource(CoreApi.ConfigSource? source, string path, TranslationErrors errors, ref TimeSpan initialFetch)
    {
        if (source is null)
        {
            errors.Add(path, "required, as ads: {}");
            return;
        }

        if (source.ConfigSourceSpecifierCase != CoreApi.ConfigSource.ConfigSourceSpecifierOneofCase.Ads)
        {
            errors.NotYetSupported(path, "a config source other than ads: {}");
        }

        if (source.ResourceApiVersion is not (CoreApi.ApiVersion.V3 or CoreApi.ApiVersion.Auto))
        {
            errors.Add(path + ".resource_api_version", "must be V3");
        }

        if (source.InitialFetchTimeout is not null)
        {
            initialFetch = source.InitialFetchTimeout.ToTimeSpan();
        }
    }
}

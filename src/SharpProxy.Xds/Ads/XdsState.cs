using System.Collections.Immutable;
using SharpProxy.Core.Configuration;
using ClusterApi = SharpProxy.Xds.Api.Config.Cluster.V3;
using EndpointApi = SharpProxy.Xds.Api.Config.Endpoint.V3;
using ListenerApi = SharpProxy.Xds.Api.Config.Listener.V3;
using RouteApi = SharpProxy.Xds.Api.Config.Route.V3;
using TlsApi = SharpProxy.Xds.Api.Extensions.TransportSockets.Tls.V3;

namespace SharpProxy.Xds.Ads;

/// <summary>The type URLs of the resources SharpProxy subscribes to, in Envoy's request order (CDS, EDS, LDS, RDS).</summary>
internal static class XdsTypes
{
    public const string Cluster = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
    public const string Endpoints = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
    public const string Listener = "type.googleapis.com/envoy.config.listener.v3.Listener";
    public const string Routes = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
    public const string Secret = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

    public static readonly ImmutableArray<string> All = [Cluster, Endpoints, Listener, Routes, Secret];

    /// <summary>LDS and CDS are wildcard subscriptions whose state-of-the-world responses replace the whole set.</summary>
    public static bool IsWildcard(string typeUrl) => typeUrl is Cluster or Listener;

    public static string ShortName(string typeUrl) => typeUrl switch
    {
        Cluster => "cds",
        Endpoints => "eds",
        Listener => "lds",
        Routes => "rds",
        Secret => "sds",
        _ => typeUrl,
    };
}

/// <summary>One accepted resource, as received (for /config_dump) with the version it came with.</summary>
internal sealed record XdsResource<T>(string Name, string Version, T Message, DateTimeOffset LastUpdated);

/// <summary>
/// Every resource accepted from the ADS server, immutable: a response is applied to a copy, which replaces this one only
/// if it translates, compiles and applies cleanly (otherwise the response is NACKed and this state keeps serving).
/// </summary>
internal sealed record XdsState
{
    public static readonly XdsState Empty = new();

    public ImmutableDictionary<string, XdsResource<ClusterApi.Cluster>> Clusters { get; init; } = ImmutableDictionary<string, XdsResource<ClusterApi.Cluster>>.Empty;

    /// <summary>Keyed by the EDS service name (the cluster's eds_cluster_config.service_name, else its name).</summary>
    public ImmutableDictionary<string, XdsResource<EndpointApi.ClusterLoadAssignment>> Endpoints { get; init; } = ImmutableDictionary<string, XdsResource<EndpointApi.ClusterLoadAssignment>>.Empty;

    public ImmutableDictionary<string, XdsResource<ListenerApi.Listener>> Listeners { get; init; } = ImmutableDictionary<string, XdsResource<ListenerApi.Listener>>.Empty;

    public ImmutableDictionary<string, XdsResource<RouteApi.RouteConfiguration>> RouteProtos { get; init; } = ImmutableDictionary<string, XdsResource<RouteApi.RouteConfiguration>>.Empty;

    /// <summary>The same route configurations translated (once, when they arrived).</summary>
    public ImmutableDictionary<string, RouteTableConfig> Routes { get; init; } = ImmutableDictionary<string, RouteTableConfig>.Empty;

    /// <summary>SDS secrets (workload certificate, root CA) received over ADS, by name.</summary>
    public ImmutableDictionary<string, XdsResource<TlsApi.Secret>> Secrets { get; init; } = ImmutableDictionary<string, XdsResource<TlsApi.Secret>>.Empty;

    /// <summary>State-of-the-world version_info last accepted per type URL (empty before the first).</summary>
    public ImmutableDictionary<string, string> Versions { get; init; } = ImmutableDictionary<string, string>.Empty;

    public string VersionOf(string typeUrl) => Versions.TryGetValue(typeUrl, out var version) ? version : "";

    /// <summary>name -> version for one type: delta's initial_resource_versions after a reconnect.</summary>
    public Dictionary<string, string> ResourceVersions(string typeUrl) => typeUrl switch
    {
        XdsTypes.Cluster => VersionsOf(Clusters),
        XdsTypes.Endpoints => VersionsOf(Endpoints),
        XdsTypes.Listener => VersionsOf(Listeners),
        XdsTypes.Routes => VersionsOf(RouteProtos),
        XdsTypes.Secret => VersionsOf(Secrets),
        _ => new Dictionary<string, string>(StringComparer.Ordinal),
    };

    private static Dictionary<string, string> VersionsOf<T>(ImmutableDictionary<string, XdsResource<T>> resources)
    {
        var result = new Dictionary<string, string>(resources.Count, StringComparer.Ordinal);
        foreach (var (name, resource) in resources)
        {
            result[name] = resource.Version;
        }

        return result;
    }
}

using SharpProxy.Core.Configuration;
using BootstrapApi = SharpProxy.Xds.Api.Config.Bootstrap.V3;

namespace SharpProxy.Xds.Bootstrap;

/// <summary>A bootstrap as read (the proto, for /config_dump) and as translated (for the data plane).</summary>
internal sealed record LoadedBootstrap(BootstrapApi.Bootstrap Proto, ProxyConfig Config, IReadOnlyList<string> IgnoredFields, string Source)
{
    /// <summary>The ADS server to fetch listeners, routes, clusters and endpoints from; null for a static bootstrap.</summary>
    public Ads.XdsSourceConfig? Xds { get; init; }
}

using SharpProxy.Core.Configuration;
using BootstrapApi = SharpProxy.Xds.Api.Config.Bootstrap.V3;

namespace SharpProxy.Xds.Bootstrap;

/// <summary>A bootstrap as read (the proto, for /config_dump) and as translated (for the data plane).</summary>
internal sealed record LoadedBootstrap(BootstrapApi.Bootstrap Proto, ProxyConfig Config, IReadOnlyList<string> IgnoredFields, string Source);

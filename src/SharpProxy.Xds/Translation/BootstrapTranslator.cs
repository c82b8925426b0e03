using System.Collections.Immutable;
using SharpProxy.Core.Configuration;
using BootstrapApi = SharpProxy.Xds.Api.Config.Bootstrap.V3;

namespace SharpProxy.Xds.Translation;

internal static class BootstrapTranslator
{
    public static ProxyConfig Translate(BootstrapApi.Bootstrap bootstrap, TranslationErrors errors) => Translate(bootstrap, errors, out _);

    public static ProxyConfig Translate(BootstrapApi.Bootstrap bootstrap, TranslationErrors errors, out Ads.XdsSourceConfig? xds)
    {
        AdminConfig? admin = null;
        if (bootstrap.Admin?.Address is { } adminAddress
            && ProtoConvert.TryGetSocketAddress(adminAddress, "admin.address", errors, out var adminIp, out var adminPort))
        {
            admin = new AdminConfig(adminIp, adminPort);
        }

        xds = bootstrap.DynamicResources is null ? null : Ads.XdsSourceConfig.Read(bootstrap, errors);

        var listeners = ImmutableArray.CreateBuilder<ListenerConfig>();
        var clusters = ImmutableArray.CreateBuilder<ClusterConfig>();
        var listenerNames = new HashSet<string>(StringComparer.Ordinal);
        var clusterNames = new HashSet<string>(StringComparer.Ordinal);
        if (bootstrap.StaticResources is { } resources)
        {
            if (resources.Secrets.Count > 0)
            {
                errors.Secrets ??= new StaticSecrets(resources.Secrets);
            }

            for (var i = 0; i < resources.Listeners.Count; i++)
            {
                var path = "static_resources.listeners[" + i + "]";
                if (ListenerTranslator.Translate(resources.Listeners[i], path, errors) is { } listener)
                {
                    if (!listenerNames.Add(listener.Name))
                    {
                        errors.Add(path + ".name", $"duplicate listener name '{listener.Name}'");
                    }

                    listeners.Add(listener);
                }
            }

            for (var i = 0; i < resources.Clusters.Count; i++)
            {
                var path = "static_resources.clusters[" + i + "]";
                if (xds is not null && resources.Clusters[i].Name == xds.ClusterName)
                {
                    // The xDS server's cluster is the ADS client's own connection (often a Unix socket), not a data-plane cluster.
                    clusterNames.Add(xds.ClusterName);
                    continue;
                }

                if (ClusterTranslator.Translate(resources.Clusters[i], path, errors) is { } cluster)
                {
                    if (!clusterNames.Add(cluster.Name))
                    {
                        errors.Add(path + ".name", $"duplicate cluster name '{cluster.Name}'");
                    }

                    clusters.Add(cluster);
                }
            }
        }

        return new ProxyConfig
        {
            Admin = admin,
            Node = new NodeConfig
            {
                Id = bootstrap.Node?.Id ?? "",
                Cluster = bootstrap.Node?.Cluster ?? "",
                Metadata = ProtoConvert.Struct(bootstrap.Node?.Metadata),
            },
            Listeners = listeners.ToImmutable(),
            Clusters = clusters.ToImmutable(),
            Tracer = TracingTranslator.Bootstrap(bootstrap, clusters.ToImmutable(), errors),
        };
    }
}

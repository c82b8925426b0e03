using System.Collections.Immutable;
using SharpProxy.Core.Configuration;
using SharpProxy.Xds.Bootstrap;
using SharpProxy.Xds.Translation;
using ClusterApi = SharpProxy.Xds.Api.Config.Cluster.V3;
using EndpointApi = SharpProxy.Xds.Api.Config.Endpoint.V3;
using TlsApi = SharpProxy.Xds.Api.Extensions.TransportSockets.Tls.V3;

namespace SharpProxy.Xds.Ads;

/// <summary>What one build produced besides the config: which dynamic resources are still waiting for others.</summary>
internal sealed class DynamicBuildResult
{
    public required ProxyConfig Config { get; init; }

    /// <summary>EDS service names the clusters need (the EDS subscription).</summary>
    public required ImmutableSortedSet<string> EndpointNames { get; init; }

    /// <summary>Route configuration names the listeners need (the RDS subscription).</summary>
    public required ImmutableSortedSet<string> RouteNames { get; init; }

    /// <summary>SDS secret names the listeners and clusters need (the SDS subscription over ADS).</summary>
    public ImmutableSortedSet<string> SecretNames { get; init; } = ImmutableSortedSet<string>.Empty;

    /// <summary>Clusters left out until their endpoints arrive (Envoy's cluster warming).</summary>
    public required int WarmingClusters { get; init; }

    /// <summary>Listeners left out until their routes arrive (Envoy's listener warming).</summary>
    public required int WarmingListeners { get; init; }
}

/// <summary>
/// Turns the bootstrap's static resources plus the accepted xDS resources into one <see cref="ProxyConfig"/>:
/// EDS clusters get their ClusterLoadAssignment, listeners using rds get their route configuration, and resources still
/// waiting for those are left out (warming) rather than served half-built.
/// </summary>
internal static class DynamicConfigBuilder
{
    public static DynamicBuildResult Build(LoadedBootstrap bootstrap, XdsState state, TranslationErrors errors, ClusterTranslationCache? cache = null)
    {
        var staticConfig = bootstrap.Config;
        var clusterNames = new HashSet<string>(StringComparer.Ordinal);
        var clusters = ImmutableArray.CreateBuilder<ClusterConfig>(staticConfig.Clusters.Length + state.Clusters.Count);
        foreach (var cluster in staticConfig.Clusters)
        {
            clusterNames.Add(cluster.Name);
            clusters.Add(cluster);
        }

        var secrets = new SecretLookup(bootstrap.Proto.StaticResources?.Secrets, state.Secrets);
        errors.Secrets = secrets;
        var endpointNames = ImmutableSortedSet.CreateBuilder<string>(StringComparer.Ordinal);
        var warmingClusters = 0;
        foreach (var (name, resource) in state.Clusters)
        {
            var path = "cluster '" + name + "'";
            if (!clusterNames.Add(name))
            {
                errors.Add(path, "a static cluster already has this name");
                continue;
            }

            var proto = resource.Message;
            XdsResource<EndpointApi.ClusterLoadAssignment>? assignmentResource = null;
            if (proto.Type == ClusterApi.Cluster.Types.DiscoveryType.Eds)
            {
                var serviceName = EdsServiceName(proto);
                endpointNames.Add(serviceName);
                if (proto.EdsClusterConfig?.EdsConfig is { } edsSource
                    && edsSource.ConfigSourceSpecifierCase != Api.Config.Core.V3.ConfigSource.ConfigSourceSpecifierOneofCase.Ads)
                {
                    errors.NotYetSupported(path + ".eds_cluster_config.eds_config", "an EDS config source other than ads: {}");
                    continue;
                }

                if (!state.Endpoints.TryGetValue(serviceName, out var assignment))
                {
                    warmingClusters++;
                    continue;
                }

                assignmentResource = assignment;
                if (cache?.Find(name, resource, assignment) is { } cached)
                {
                    clusters.Add(cached);
                    continue;
                }

                proto = proto.Clone();
                proto.Type = ClusterApi.Cluster.Types.DiscoveryType.Static;
                proto.EdsClusterConfig = null;
                proto.LoadAssignment = assignment.Message.Clone();
                proto.LoadAssignment.ClusterName = name;
            }

            else if (cache?.Find(name, resource, null) is { } cached)
            {
                clusters.Add(cached);
                continue;
            }

            var errorsBefore = errors.All.Count;
            secrets.StartResource();
            var translatedCluster = ClusterTranslator.Translate(proto, path, errors);
            if (secrets.MissingForCurrent > 0)
            {
                // Envoy's cluster warming: wait for the SDS secrets it names.
                warmingClusters++;
                continue;
            }

            if (translatedCluster is { } translated)
            {
                clusters.Add(translated);

                // A cluster naming SDS secrets is translated again on every build, so a rotated secret reaches it.
                if (errors.All.Count == errorsBefore && secrets.RequestedForCurrent == 0)
                {
                    cache?.Add(name, resource, assignmentResource, translated);
                }
            }
        }

        cache?.RetainOnly(state.Clusters);

        var routes = new RouteLookup(state.Routes);
        var listenerErrors = new TranslationErrors { Routes = routes, Secrets = secrets, FromControlPlane = true };
        var listenerNames = new HashSet<string>(StringComparer.Ordinal);
        var listeners = ImmutableArray.CreateBuilder<ListenerConfig>(staticConfig.Listeners.Length + state.Listeners.Count);
        foreach (var listener in staticConfig.Listeners)
        {
            listenerNames.Add(listener.Name);
            listeners.Add(listener);
        }

        var warmingListeners = 0;
        foreach (var (name, resource) in state.Listeners)
        {
            var path = "listener '" + name + "'";
            if (!listenerNames.Add(name))
            {
                errors.Add(path, "a static listener already has this name");
                continue;
            }

            routes.MissingForCurrent = 0;
            secrets.StartResource();
            var translated = ListenerTranslator.Translate(resource.Message, path, listenerErrors);
            if (routes.MissingForCurrent > 0 || secrets.MissingForCurrent > 0)
            {
                warmingListeners++;
                continue;
            }

            if (translated is not null)
            {
                listeners.Add(translated);
            }
        }

        foreach (var error in listenerErrors.All)
        {
            errors.Add(error);
        }

        return new DynamicBuildResult
        {
            Config = staticConfig with { Listeners = listeners.ToImmutable(), Clusters = clusters.ToImmutable() },
            EndpointNames = endpointNames.ToImmutable(),
            RouteNames = routes.Requested.ToImmutable(),
            SecretNames = secrets.Requested.ToImmutable(),
            WarmingClusters = warmingClusters,
            WarmingListeners = warmingListeners,
        };
    }

    /// <summary>Envoy subscribes an EDS cluster by eds_cluster_config.service_name, or by the cluster's name when that is empty.</summary>
    public static string EdsServiceName(ClusterApi.Cluster cluster) =>
        cluster.EdsClusterConfig is { ServiceName.Length: > 0 } eds ? eds.ServiceName : cluster.Name;

    /// <summary>
    /// Secrets for SdsSecretConfig: by name only from the bootstrap's static_resources.secrets; with sds_config ads
    /// from the secrets received over ADS (recording the names to subscribe and which ones are still missing).
    /// </summary>
    private sealed class SecretLookup(IEnumerable<TlsApi.Secret>? staticSecrets, ImmutableDictionary<string, XdsResource<TlsApi.Secret>> dynamicSecrets) : IDynamicSecretSource
    {
        private readonly StaticSecrets _static = new(staticSecrets ?? []);

        public ImmutableSortedSet<string>.Builder Requested { get; } = ImmutableSortedSet.CreateBuilder<string>(StringComparer.Ordinal);

        public int MissingForCurrent { get; private set; }

        public int RequestedForCurrent { get; private set; }

        public int Missing { get; private set; }

        public void StartResource()
        {
            MissingForCurrent = 0;
            RequestedForCurrent = 0;
        }

        public TlsApi.Secret? Find(string name) => _static.Find(name);

        public TlsApi.Secret? FindDynamic(string name)
        {
            Requested.Add(name);
            RequestedForCurrent++;
            if (dynamicSecrets.TryGetValue(name, out var secret))
            {
                return secret.Message;
            }

            MissingForCurrent++;
            Missing++;
            return null;
        }
    }

    private sealed class RouteLookup(ImmutableDictionary<string, RouteTableConfig> routes) : IRouteConfigSource
    {
        public ImmutableSortedSet<string>.Builder Requested { get; } = ImmutableSortedSet.CreateBuilder<string>(StringComparer.Ordinal);

        public int MissingForCurrent { get; set; }

        public RouteTableConfig? Find(string name)
        {
            Requested.Add(name);
            if (routes.TryGetValue(name, out var table))
            {
                return table;
            }

            MissingForCurrent++;
            return null;
        }
    }
}

/// <summary>
/// Translated clusters keyed by the resource objects they came from: a push that leaves a cluster and its endpoints
/// untouched reuses the same <see cref="ClusterConfig"/> instance, so neither translation nor the snapshot compiler's
/// comparison runs again for it (an RDS push over 1,000 clusters then costs what the routes cost).
/// </summary>
internal sealed class ClusterTranslationCache
{
    private readonly Dictionary<string, (object Cluster, object? Assignment, ClusterConfig Config)> _entries = new(StringComparer.Ordinal);

    public ClusterConfig? Find(string name, object cluster, object? assignment) =>
        _entries.TryGetValue(name, out var entry) && ReferenceEquals(entry.Cluster, cluster) && ReferenceEquals(entry.Assignment, assignment)
            ? entry.Config
            : null;

    public void Add(string name, object cluster, object? assignment, ClusterConfig config) => _entries[name] = (cluster, assignment, config);

    public void RetainOnly(ImmutableDictionary<string, XdsResource<ClusterApi.Cluster>> clusters)
    {
        List<string>? stale = null;
        foreach (var name in _entries.Keys)
        {
            if (!clusters.ContainsKey(name))
            {
                (stale ??= []).Add(name);
            }
        }

        foreach (var name in stale ?? [])
        {
            _entries.Remove(name);
        }
    }
}

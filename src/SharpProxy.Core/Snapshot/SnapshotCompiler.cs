using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Net;
using System.Text.Json;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Routing;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.Snapshot;

/// <summary>
/// Compiles a <see cref="ProxyConfig"/> into a <see cref="ProxySnapshot"/>, reusing the previous snapshot's
/// cluster states (and so their connection pools) for clusters whose config did not change.
/// </summary>
internal sealed class SnapshotCompiler(int workers)
{
    private long _version;

    public int Workers { get; } = Math.Max(1, workers);

    /// <exception cref="ConfigException">The config cannot be compiled (route table conflicts, unresolvable hosts).</exception>
    public ProxySnapshot Compile(ProxyConfig config, ProxySnapshot? previous)
    {
        var errors = new List<string>();
        var listeners = ImmutableArray.CreateBuilder<CompiledListener>(config.Listeners.Length);
        foreach (var listener in config.Listeners)
        {
            var chains = ImmutableArray.CreateBuilder<CompiledFilterChain>(listener.FilterChains.Length);
            for (var i = 0; i < listener.FilterChains.Length; i++)
            {
                var chain = listener.FilterChains[i];
                CompiledRouteTable? routes = null;
                if (chain.Http?.RouteConfig is { } table)
                {
                    try
                    {
                        routes = CompiledRouteTable.Compile(table, chain.Http.StripAnyHostPort, chain.Http.StripMatchingHostPort, listener.Port);
                    }
                    catch (ArgumentException ex)
                    {
                        errors.Add($"listener '{listener.Name}' filter_chains[{i}] route_config '{table.Name}': {ex.Message}");
                    }
                }

                chains.Add(new CompiledFilterChain(chain, routes));
            }

            listeners.Add(new CompiledListener(listener, chains.MoveToImmutable()));
        }

        var clusters = new Dictionary<string, ClusterState>(StringComparer.Ordinal);
        List<(ClusterState New, ClusterState Old)>? adoptions = null;
        foreach (var cluster in config.Clusters)
        {
            var old = previous?.FindCluster(cluster.Name);
            if (old is not null && ReferenceEquals(old.Config, cluster) && old.Workers == Workers)
            {
                // The very same config object (the xDS client reuses unchanged clusters): no comparison needed.
                clusters[cluster.Name] = old;
                continue;
            }

            // Fingerprints only when there is an old state to compare with: the reflection-based serializer is the
            // costliest part of a start-up compile (about 80 ms of JIT and type loading), and its result would go unused.
            string? fingerprint = null;
            if (old is not null && old.Workers == Workers)
            {
                fingerprint = Fingerprint(cluster);
                if (FingerprintOf(old) == fingerprint)
                {
                    clusters[cluster.Name] = old;
                    continue;
                }
            }

            try
            {
                var poolFingerprint = old is null ? null : PoolFingerprint(cluster);
                var state = new ClusterState(cluster, ResolveHosts(cluster), Workers, fingerprint, previous: old) { PoolFingerprint = poolFingerprint };
                clusters[cluster.Name] = state;
                if (old is not null && PoolFingerprintOf(old) == poolFingerprint)
                {
                    // Only the endpoints changed: the pools (and connections to hosts that remain) carry over.
                    (adoptions ??= []).Add((state, old));
                }
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or NotSupportedException or ArgumentException)
            {
                errors.Add($"cluster '{cluster.Name}': {ex.Message}");
            }
        }

        if (errors.Count > 0)
        {
            foreach (var state in clusters.Values)
            {
                if (previous?.FindCluster(state.Name) != state)
                {
                    state.Dispose();
                }
            }

            throw new ConfigException(errors);
        }

        if (adoptions is not null)
        {
            foreach (var (state, old) in adoptions)
            {
                state.AdoptPools(old);
            }
        }

        return new ProxySnapshot(config, listeners.MoveToImmutable(), clusters.ToFrozenDictionary(StringComparer.Ordinal), Interlocked.Increment(ref _version));
    }

    private static string Fingerprint(ClusterConfig cluster) => JsonSerializer.Serialize(cluster, FingerprintJson.Default.ClusterConfig);

    private static string PoolFingerprint(ClusterConfig cluster) => JsonSerializer.Serialize(cluster with { Endpoints = [] }, FingerprintJson.Default.ClusterConfig);

    // The config is immutable, so a fingerprint taken now equals the one that could have been taken at creation.
    private static string FingerprintOf(ClusterState state) => state.Fingerprint ??= Fingerprint(state.Config);

    private static string PoolFingerprintOf(ClusterState state) => state.PoolFingerprint ??= PoolFingerprint(state.Config);

    /// <summary>Disposes the previous snapshot's clusters that the new one no longer uses.</summary>
    public static void RetireUnused(ProxySnapshot previous, ProxySnapshot current)
    {
        foreach (var cluster in previous.Clusters)
        {
            if (current.FindCluster(cluster.Name) != cluster)
            {
                cluster.Dispose();
            }
        }
    }

    private static List<HostState> ResolveHosts(ClusterConfig cluster)
    {
        var hosts = new List<HostState>(cluster.Endpoints.Length);
        foreach (var endpoint in cluster.Endpoints)
        {
            if (IPAddress.TryParse(endpoint.Address, out var ip))
            {
                hosts.Add(new HostState(endpoint, new IPEndPoint(ip, endpoint.Port)));
                continue;
            }

            if (cluster.Type != ClusterDiscoveryType.StrictDns)
            {
                throw new ArgumentException($"endpoint address '{endpoint.Address}' is not an IP address (only STRICT_DNS clusters resolve names)");
            }

            // STRICT_DNS: every resolved address becomes a host, as in Envoy.
            foreach (var address in Dns.GetHostAddresses(endpoint.Address))
            {
                hosts.Add(new HostState(endpoint, new IPEndPoint(address, endpoint.Port)));
            }
        }

        return hosts;
    }
}

using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Routing;

/// <summary>
/// A route configuration compiled for matching, with Envoy's semantics (source/common/router/config_impl.cc):
/// the virtual host is chosen by authority — exact domain, then the longest <c>*suffix</c> wildcard, then the longest
/// <c>prefix*</c> wildcard, then <c>*</c> — comparing ASCII-lowercased and including any port unless the HCM strips it;
/// then the first matching route of that virtual host wins. Immutable and safe to share across threads.
/// </summary>
internal sealed class CompiledRouteTable
{
    private const int StackLimit = 256;

    private readonly FrozenDictionary<string, CompiledVirtualHost> _exact;
    private readonly FrozenDictionary<string, CompiledVirtualHost>.AlternateLookup<ReadOnlySpan<char>> _exactLookup;
    private readonly WildcardGroup[] _suffixes;
    private readonly WildcardGroup[] _prefixes;
    private readonly CompiledVirtualHost? _default;
    private readonly HostNormalization _host;
    private readonly bool _onlyDefault;

    private CompiledRouteTable(
        RouteTableConfig config,
        ImmutableArray<CompiledVirtualHost> virtualHosts,
        FrozenDictionary<string, CompiledVirtualHost> exact,
        WildcardGroup[] suffixes,
        WildcardGroup[] prefixes,
        CompiledVirtualHost? defaultHost,
        HostNormalization host)
    {
        Config = config;
        VirtualHosts = virtualHosts;
        _exact = exact;
        _exactLookup = exact.GetAlternateLookup<ReadOnlySpan<char>>();
        _suffixes = suffixes;
        _prefixes = prefixes;
        _default = defaultHost;
        _host = host;
        _onlyDefault = exact.Count == 0 && suffixes.Length == 0 && prefixes.Length == 0;
    }

    public RouteTableConfig Config { get; }

    public ImmutableArray<CompiledVirtualHost> VirtualHosts { get; }

    public bool StripAnyHostPort => _host.StripAnyHostPort;

    public bool StripMatchingHostPort => _host.StripMatchingHostPort;

    public int ListenerPort => _host.ListenerPort;

    /// <exception cref="ArgumentException">
    /// The table is unusable: a duplicate domain, more than one '*', an invalid regex or path_separated_prefix, zero total
    /// weight, an invalid redirect code. The message names the offending domain or route.
    /// </exception>
    public static CompiledRouteTable Compile(RouteTableConfig config, bool stripAnyHostPort = false, bool stripMatchingHostPort = false, int listenerPort = 0)
    {
        ArgumentNullException.ThrowIfNull(config);
        var host = new HostNormalization(stripAnyHostPort, stripMatchingHostPort, listenerPort);
        var configs = config.VirtualHosts.IsDefault ? [] : config.VirtualHosts;
        var virtualHosts = ImmutableArray.CreateBuilder<CompiledVirtualHost>(configs.Length);
        var exact = new Dictionary<string, CompiledVirtualHost>(StringComparer.Ordinal);
        var suffixes = new SortedDictionary<int, Dictionary<string, CompiledVirtualHost>>();
        var prefixes = new SortedDictionary<int, Dictionary<string, CompiledVirtualHost>>();
        CompiledVirtualHost? defaultHost = null;
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);

        foreach (var vhostConfig in configs)
        {
            var vhost = new CompiledVirtualHost(vhostConfig, host);
            virtualHosts.Add(vhost);
            if (vhostConfig.Domains.IsDefault)
            {
                continue;
            }

            foreach (var domainName in vhostConfig.Domains)
            {
                var domain = AsciiText.ToLower(domainName ?? "");
                bool added;
                if (domain == "*")
                {
                    if (defaultHost is not null)
                    {
                        throw new ArgumentException(
                            $"Only a single wildcard domain is permitted in route {config.Name}: '*' is in virtual hosts '{defaultHost.Name}' and '{vhost.Name}'");
                    }

                    defaultHost = vhost;
                    added = true;
                }
                else if (domain.Length > 0 && domain[0] == '*')
                {
                    added = GetGroup(suffixes, domain.Length - 1).TryAdd(domain[1..], vhost);
                }
                else if (domain.Length > 0 && domain[^1] == '*')
                {
                    added = GetGroup(prefixes, domain.Length - 1).TryAdd(domain[..^1], vhost);
                }
                else
                {
                    added = exact.TryAdd(domain, vhost);
                }

                if (!added)
                {
                    throw new ArgumentException(
                        $"Only unique values for domains are permitted. Duplicate entry of domain {domain} in route {config.Name} " +
                        $"(virtual hosts '{owners[domain]}' and '{vhost.Name}')");
                }

                owners[domain] = vhost.Name;
            }
        }

        return new CompiledRouteTable(
            config,
            virtualHosts.MoveToImmutable(),
            exact.ToFrozenDictionary(StringComparer.Ordinal),
            ToGroups(suffixes),
            ToGroups(prefixes),
            defaultHost,
            host);
    }

    /// <summary>The virtual host for <paramref name="authority"/>, or null when none matches (Envoy's 404 NR).</summary>
    public CompiledVirtualHost? FindVirtualHost(string authority) => FindVirtualHost((authority ?? "").AsSpan());

    [SkipLocalsInit] // the lowercase buffer is fully written before it is read
    public CompiledVirtualHost? FindVirtualHost(ReadOnlySpan<char> authority)
    {
        // Envoy's fast path: only a default virtual host (or none at all).
        if (_onlyDefault)
        {
            return _default;
        }

        var host = _host.Apply(authority);
        if (Config.IgnorePortInHostMatching && HostNormalization.GetPortStart(host) is var portStart and >= 0)
        {
            host = host[..portStart];
        }

        Span<char> lower = host.Length <= StackLimit ? stackalloc char[host.Length] : new char[host.Length];
        AsciiText.ToLower(host, lower);

        if (_exactLookup.TryGetValue(lower, out var vhost))
        {
            return vhost;
        }

        // Longest wildcard first; a wildcard never matches an empty remainder ("*.foo.com" does not match ".foo.com").
        foreach (var group in _suffixes)
        {
            if (group.Length >= lower.Length)
            {
                continue;
            }

            if (group.Lookup.TryGetValue(lower[^group.Length..], out vhost))
            {
                return vhost;
            }
        }

        foreach (var group in _prefixes)
        {
            if (group.Length >= lower.Length)
            {
                continue;
            }

            if (group.Lookup.TryGetValue(lower[..group.Length], out vhost))
            {
                return vhost;
            }
        }

        return _default;
    }

    /// <summary>The virtual host by authority, then the first route of it that matches.</summary>
    public RouteMatchResult Match(in RouteRequest request)
    {
        var vhost = FindVirtualHost((request.Authority ?? "").AsSpan());
        return vhost is null ? default : new RouteMatchResult(vhost, vhost.FindRoute(request));
    }

    private static Dictionary<string, CompiledVirtualHost> GetGroup(SortedDictionary<int, Dictionary<string, CompiledVirtualHost>> groups, int length)
    {
        if (!groups.TryGetValue(length, out var group))
        {
            group = new Dictionary<string, CompiledVirtualHost>(StringComparer.Ordinal);
            groups.Add(length, group);
        }

        return group;
    }

    private static WildcardGroup[] ToGroups(SortedDictionary<int, Dictionary<string, CompiledVirtualHost>> groups)
    {
        var result = new WildcardGroup[groups.Count];
        var i = result.Length;
        foreach (var (length, hosts) in groups)
        {
            // Ascending in the sorted dictionary; stored longest first.
            var frozen = hosts.ToFrozenDictionary(StringComparer.Ordinal);
            result[--i] = new WildcardGroup(length, frozen.GetAlternateLookup<ReadOnlySpan<char>>());
        }

        return result;
    }

    private readonly record struct WildcardGroup(int Length, FrozenDictionary<string, CompiledVirtualHost>.AlternateLookup<ReadOnlySpan<char>> Lookup);
}

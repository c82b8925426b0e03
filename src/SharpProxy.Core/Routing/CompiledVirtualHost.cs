using System.Collections.Immutable;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Routing;

/// <summary>A virtual host with its routes compiled, in config order (first match wins).</summary>
internal sealed class CompiledVirtualHost
{
    private readonly CompiledRoute[] _routes;

    /// <exception cref="ArgumentException">A route cannot be compiled; the message names the route.</exception>
    public CompiledVirtualHost(VirtualHostConfig config, HostNormalization host = default)
    {
        Config = config;
        var routes = config.Routes.IsDefault ? [] : config.Routes;
        var headerSlots = AssignHeaderSlots(routes);
        _routes = new CompiledRoute[routes.Length];
        for (var i = 0; i < routes.Length; i++)
        {
            try
            {
                _routes[i] = new CompiledRoute(routes[i], i, host, headerSlots);
            }
            catch (ArgumentException ex)
            {
                var name = string.IsNullOrEmpty(routes[i].Name) ? "" : $" '{routes[i].Name}'";
                throw new ArgumentException($"virtual host '{config.Name}' routes[{i}]{name}: {ex.Message}", ex);
            }
        }

        Routes = ImmutableArray.Create(_routes);
    }

    public VirtualHostConfig Config { get; }

    public string Name => Config.Name;

    public ImmutableArray<CompiledRoute> Routes { get; }

    /// <summary>The first route that matches, or null (Envoy's 404 NR).</summary>
    public CompiledRoute? FindRoute(in RouteRequest request)
    {
        var path = CompiledRoute.PathForMatching(request.Path);
        var cache = default(HeaderValueCache);
        var routes = _routes;
        for (var i = 0; i < routes.Length; i++)
        {
            if (routes[i].Matches(request, path, ref cache))
            {
                return routes[i];
            }
        }

        return null;
    }

    /// <summary>The most used plain header names of this virtual host's matchers, numbered for <see cref="HeaderValueCache"/>.</summary>
    private static Dictionary<string, int>? AssignHeaderSlots(ImmutableArray<RouteConfig> routes)
    {
        var uses = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        var order = new List<string>();
        foreach (var route in routes)
        {
            if (route?.Match is not { Headers.IsDefaultOrEmpty: false } match)
            {
                continue;
            }

            foreach (var header in match.Headers)
            {
                var name = header.Name;
                if (string.IsNullOrEmpty(name) || name[0] == ':' || name.Equals("host", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                if (uses.TryGetValue(name, out var count))
                {
                    uses[name] = count + 1;
                }
                else
                {
                    uses[name] = 1;
                    order.Add(name);
                }
            }
        }

        if (order.Count == 0)
        {
            return null;
        }

        var slots = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in order.OrderByDescending(n => uses[n]).Take(HeaderValueCache.Capacity))
        {
            slots[name] = slots.Count;
        }

        return slots;
    }
}

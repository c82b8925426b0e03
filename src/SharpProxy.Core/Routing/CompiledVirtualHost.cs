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
        _routes = new CompiledRoute[routes.Length];
        for (var i = 0; i < routes.Length; i++)
        {
            try
            {
                _routes[i] = new CompiledRoute(routes[i], i, host);
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
        var routes = _routes;
        for (var i = 0; i < routes.Length; i++)
        {
            if (routes[i].Matches(request, path))
            {
                return routes[i];
            }
        }

        return null;
    }
}

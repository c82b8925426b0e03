using Google.Protobuf.WellKnownTypes;
using SharpProxy.Xds.Api.Config.Cluster.V3;
using SharpProxy.Xds.Api.Config.Core.V3;
using SharpProxy.Xds.Api.Config.Endpoint.V3;
using SharpProxy.Xds.Api.Config.Listener.V3;
using SharpProxy.Xds.Api.Config.Route.V3;
using SharpProxy.Xds.Api.Extensions.Filters.Http.Router.V3;
using SharpProxy.Xds.Api.Extensions.Filters.Network.HttpConnectionManager.V3;
using Filter = SharpProxy.Xds.Api.Config.Listener.V3.Filter;

namespace SharpProxy.Testing;

/// <summary>xDS resources in the shapes istiod sends (EDS clusters, rds listeners, weighted routes), built for tests.</summary>
public static class XdsResources
{
    public static Cluster EdsCluster(string name, Cluster.Types.LbPolicy policy = Cluster.Types.LbPolicy.RoundRobin) => new()
    {
        Name = name,
        Type = Cluster.Types.DiscoveryType.Eds,
        ConnectTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(1)),
        LbPolicy = policy,
        EdsClusterConfig = new Cluster.Types.EdsClusterConfig
        {
            ServiceName = name,
            EdsConfig = new ConfigSource { Ads = new AggregatedConfigSource(), ResourceApiVersion = ApiVersion.V3 },
        },
    };

    public static ClusterLoadAssignment Assignment(string clusterName, params int[] ports)
    {
        var locality = new LocalityLbEndpoints();
        foreach (var port in ports)
        {
            locality.LbEndpoints.Add(new LbEndpoint
            {
                Endpoint = new Endpoint { Address = new Address { SocketAddress = new SocketAddress { Address = "127.0.0.1", PortValue = (uint)port } } },
            });
        }

        var assignment = new ClusterLoadAssignment { ClusterName = clusterName };
        assignment.Endpoints.Add(locality);
        return assignment;
    }

    /// <summary>A listener on 127.0.0.1 (port 0: the OS picks) whose HTTP connection manager takes its routes from RDS.</summary>
    public static Listener RdsListener(string name, string routeName, int port = 0)
    {
        var hcm = new HttpConnectionManager
        {
            StatPrefix = name,
            CodecType = HttpConnectionManager.Types.CodecType.Auto,
            Rds = new Rds
            {
                RouteConfigName = routeName,
                ConfigSource = new ConfigSource { Ads = new AggregatedConfigSource(), ResourceApiVersion = ApiVersion.V3 },
            },
        };
        hcm.HttpFilters.Add(new HttpFilter { Name = "envoy.filters.http.router", TypedConfig = Any.Pack(new Router()) });
        var chain = new FilterChain();
        chain.Filters.Add(new Filter { Name = "envoy.filters.network.http_connection_manager", TypedConfig = Any.Pack(hcm) });
        var listener = new Listener
        {
            Name = name,
            Address = new Address { SocketAddress = new SocketAddress { Address = "127.0.0.1", PortValue = (uint)port } },
        };
        listener.FilterChains.Add(chain);
        return listener;
    }

    /// <summary>One virtual host for every domain, one route for "/" split over the clusters by weight (Istio's VirtualService split).</summary>
    public static RouteConfiguration WeightedRoute(string name, params (string Cluster, uint Weight)[] clusters)
    {
        var weighted = new WeightedCluster();
        foreach (var (cluster, weight) in clusters)
        {
            weighted.Clusters.Add(new WeightedCluster.Types.ClusterWeight { Name = cluster, Weight = weight });
        }

        var route = new Route { Match = new RouteMatch { Prefix = "/" }, Route_ = new RouteAction { WeightedClusters = weighted } };
        var vhost = new VirtualHost { Name = "all" };
        vhost.Domains.Add("*");
        vhost.Routes.Add(route);
        var config = new RouteConfiguration { Name = name };
        config.VirtualHosts.Add(vhost);
        return config;
    }
}

using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using SharpProxy.Xds.Api.Config.Cluster.V3;
using SharpProxy.Xds.Api.Config.Core.V3;
using SharpProxy.Xds.Api.Config.Endpoint.V3;
using SharpProxy.Xds.Api.Config.Listener.V3;
using SharpProxy.Xds.Api.Config.Route.V3;
using SharpProxy.Xds.Api.Extensions.Filters.Http.Cors.V3;
using SharpProxy.Xds.Api.Extensions.Filters.Http.Fault.V3;
using SharpProxy.Xds.Api.Extensions.Filters.Http.Router.V3;
using SharpProxy.Xds.Api.Extensions.Filters.Listener.OriginalDst.V3;
using SharpProxy.Xds.Api.Extensions.Filters.Network.HttpConnectionManager.V3;
using SharpProxy.Xds.Api.Extensions.Filters.Network.TcpProxy.V3;
using SharpProxy.Xds.Api.Extensions.Retry.Host.PreviousHosts.V3;
using SharpProxy.Xds.Api.Extensions.Upstreams.Http.V3;
using SharpProxy.Xds.Api.Type.Matcher.V3;
using SharpProxy.Xds.Api.Type.V3;
using ClusterFilter = SharpProxy.Xds.Api.Config.Cluster.V3.Filter;
using CoreHttpProtocolOptions = SharpProxy.Xds.Api.Config.Core.V3.HttpProtocolOptions;
using CoreSocketAddress = SharpProxy.Xds.Api.Config.Core.V3.SocketAddress;
using Filter = SharpProxy.Xds.Api.Config.Listener.V3.Filter;
using UpstreamHttpProtocolOptions = SharpProxy.Xds.Api.Extensions.Upstreams.Http.V3.HttpProtocolOptions;
using Hcm = SharpProxy.Xds.Api.Extensions.Filters.Network.HttpConnectionManager.V3.HttpConnectionManager;

namespace SharpProxy.Testing;

/// <summary>
/// What istiod (1.2x, sidecar mode, REDIRECT interception, auto mTLS and PeerAuthentication off) sends the
/// <c>productpage-v1</c> sidecar of Istio's bookinfo sample, with a <c>reviews</c> VirtualService splitting v1/v2/v3 by
/// weight and a DestinationRule with subsets and <c>consistentHash.httpCookie</c> (plus a corsPolicy on the route), written
/// by hand from istiod's builders (pilot/pkg/networking/core: listener_builder.go, cluster_builder.go,
/// cluster_traffic_policy.go, route/route.go, route/retry/retry.go). Fields outside SharpProxy's descriptors are written
/// as raw protobuf with Envoy's field numbers, so they reach the proxy exactly as binary xDS would carry them.
/// </summary>
public static class IstioBookinfo
{
    public const string Namespace = "default";
    public const string RouteName = "9080";
    public const string OutboundListenerName = "0.0.0.0_9080";
    public const string ReviewsHost = "reviews.default.svc.cluster.local";
    public const string CookieName = "user";
    public const string AllowedOrigin = "https://bookinfo.example.com";

    public static readonly string[] Services = ["details", "productpage", "ratings", "reviews"];
    public static readonly string[] ReviewsSubsets = ["v1", "v2", "v3"];

    private const string PodIp = "10.244.1.15";
    private const string TypePrefix = "type.googleapis.com/";

    public static string ClusterName(string service, string subset = "") => $"outbound|9080|{subset}|{service}.{Namespace}.svc.cluster.local";

    /// <summary>How the fixture is placed on this machine (Istio's own ports and addresses unless a test moves them).</summary>
    public sealed record Placement
    {
        public string WildcardAddress { get; init; } = "0.0.0.0";

        public int VirtualOutboundPort { get; init; } = 15001;

        public int VirtualInboundPort { get; init; } = 15006;

        /// <summary>Istio binds no per-port outbound listener (bind_to_port false, reached from 15001); a test may bind it.</summary>
        public bool BindOutboundPortListener { get; init; }

        public int OutboundPortListenerPort { get; init; } = 9080;

        public uint ReviewsV1Weight { get; init; } = 50;

        public uint ReviewsV2Weight { get; init; } = 30;

        public uint ReviewsV3Weight { get; init; } = 20;
    }

    // ---------------------------------------------------------------- LDS

    public static IMessage[] Listeners(Placement? placement = null)
    {
        placement ??= new Placement();
        return [OutboundPortListener(placement), VirtualOutbound(placement), VirtualInbound(placement)];
    }

    /// <summary>virtualOutbound: the iptables REDIRECT target, handing connections to the listener of their original port.</summary>
    public static Listener VirtualOutbound(Placement placement)
    {
        var listener = new Listener
        {
            Name = "virtualOutbound",
            Address = SocketAddress(placement.WildcardAddress, placement.VirtualOutboundPort),
            UseOriginalDst = true,
            TrafficDirection = TrafficDirection.Outbound,
        };
        listener.FilterChains.Add(TcpChain("virtualOutbound-blackhole", "BlackHoleCluster", new FilterChainMatch { DestinationPort = (uint)placement.VirtualOutboundPort }));
        listener.FilterChains.Add(TcpChain("virtualOutbound-catchall-tcp", "PassthroughCluster", null));
        return listener;
    }

    /// <summary>0.0.0.0_9080: the shared outbound HTTP listener of port 9080 (RDS "9080"), PassthroughCluster for anything else.</summary>
    public static Listener OutboundPortListener(Placement placement)
    {
        var hcm = HttpConnectionManager("outbound_0.0.0.0_9080", outbound: true);
        hcm.Rds = new Rds
        {
            RouteConfigName = RouteName,
            ConfigSource = new ConfigSource { Ads = new AggregatedConfigSource(), InitialFetchTimeout = new Duration(), ResourceApiVersion = ApiVersion.V3 },
        };

        var chain = new FilterChain
        {
            FilterChainMatch = new FilterChainMatch { TransportProtocol = "raw_buffer" },
        };
        chain.FilterChainMatch.ApplicationProtocols.Add(["http/1.0", "http/1.1", "h2c"]);
        chain.Filters.Add(new Filter { Name = "envoy.filters.network.http_connection_manager", TypedConfig = Any.Pack(hcm) });
        chain = WithRaw(chain, o => WriteMessage(o, 9, DurationBytes(15))); // transport_socket_connect_timeout

        var passthrough = TcpChain("PassthroughFilterChain", "PassthroughCluster", new FilterChainMatch());
        var listener = new Listener
        {
            Name = OutboundListenerName,
            Address = SocketAddress(placement.BindOutboundPortListener ? "127.0.0.1" : placement.WildcardAddress, placement.BindOutboundPortListener ? placement.OutboundPortListenerPort : 9080),
            TrafficDirection = TrafficDirection.Outbound,
            ContinueOnListenerFiltersTimeout = true,
            ListenerFiltersTimeout = new Duration(),
            DefaultFilterChain = passthrough,
        };
        if (!placement.BindOutboundPortListener)
        {
            listener.BindToPort = false;
        }

        listener.FilterChains.Add(chain);
        listener.ListenerFilters.Add(new ListenerFilter
        {
            Name = "envoy.filters.listener.http_inspector",
            TypedConfig = OpaqueAny("envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"),
        });
        return listener;
    }

    /// <summary>virtualInbound: every inbound connection (iptables REDIRECT to 15006), per-port chains and passthrough.</summary>
    public static Listener VirtualInbound(Placement placement)
    {
        var listener = new Listener
        {
            Name = "virtualInbound",
            Address = SocketAddress(placement.WildcardAddress, placement.VirtualInboundPort),
            TrafficDirection = TrafficDirection.Inbound,
            ContinueOnListenerFiltersTimeout = true,
            ListenerFiltersTimeout = new Duration(),
        };
        listener.ListenerFilters.Add(new ListenerFilter { Name = "envoy.filters.listener.original_dst", TypedConfig = Any.Pack(new OriginalDst()) });
        listener.ListenerFilters.Add(new ListenerFilter
        {
            Name = "envoy.filters.listener.tls_inspector",
            TypedConfig = OpaqueAny("envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"),
        });
        listener.ListenerFilters.Add(new ListenerFilter
        {
            Name = "envoy.filters.listener.http_inspector",
            TypedConfig = OpaqueAny("envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"),
        });

        listener.FilterChains.Add(TcpChain("virtualInbound-blackhole", "BlackHoleCluster", new FilterChainMatch { DestinationPort = (uint)placement.VirtualInboundPort }));

        // Passthrough for ports no Service declares: plaintext TCP, and plaintext HTTP (sniffed) to InboundPassthroughCluster.
        var anyIpv4 = new CidrRange { AddressPrefix = "0.0.0.0", PrefixLen = 0 };
        var tcpMatch = new FilterChainMatch { TransportProtocol = "raw_buffer" };
        tcpMatch.PrefixRanges.Add(anyIpv4);
        listener.FilterChains.Add(TcpChain("virtualInbound", "InboundPassthroughCluster", tcpMatch));

        var passthroughHcm = HttpConnectionManager("InboundPassthroughCluster", outbound: false);
        passthroughHcm.RouteConfig = InboundRoute("InboundPassthroughCluster", "inbound|http|0", "InboundPassthroughCluster", "default");
        var httpMatch = new FilterChainMatch { TransportProtocol = "raw_buffer" };
        httpMatch.PrefixRanges.Add(anyIpv4);
        httpMatch.ApplicationProtocols.Add(["http/1.1", "h2c"]);
        listener.FilterChains.Add(HcmChain("virtualInbound-catchall-http", passthroughHcm, httpMatch));

        // The pod's own port 9080 (productpage), plaintext HTTP (PeerAuthentication DISABLE).
        var portHcm = HttpConnectionManager("inbound_0.0.0.0_9080", outbound: false);
        portHcm.RouteConfig = InboundRoute("inbound|9080||", "inbound|http|9080", "inbound|9080||", $"productpage.{Namespace}.svc.cluster.local:9080/*");
        listener.FilterChains.Add(HcmChain("0.0.0.0_9080", portHcm, new FilterChainMatch { DestinationPort = 9080, TransportProtocol = "raw_buffer" }));
        return listener;
    }

    private static Hcm HttpConnectionManager(string statPrefix, bool outbound)
    {
        var hcm = new Hcm
        {
            StatPrefix = statPrefix,
            CodecType = Hcm.Types.CodecType.Auto,
            UseRemoteAddress = false,
            NormalizePath = true,
            PathWithEscapedSlashesAction = Hcm.Types.PathWithEscapedSlashesAction.KeepUnchanged,
            StreamIdleTimeout = new Duration(),
        };
        hcm.UpgradeConfigs.Add(new Hcm.Types.UpgradeConfig { UpgradeType = "websocket" });
        if (!outbound)
        {
            hcm.ServerName = "istio-envoy";
            hcm.ForwardClientCertDetails = Hcm.Types.ForwardClientCertDetails.AppendForward;
            hcm.SetCurrentClientCertDetails = new Hcm.Types.SetCurrentClientCertDetails { Subject = true, Dns = true, Uri = true };
        }

        hcm.HttpFilters.Add(new HttpFilter { Name = "istio.metadata_exchange", TypedConfig = OpaqueAny("io.istio.http.peer_metadata.Config") });
        hcm.HttpFilters.Add(new HttpFilter { Name = "envoy.filters.http.grpc_stats", TypedConfig = OpaqueAny("envoy.extensions.filters.http.grpc_stats.v3.FilterConfig", o => WriteBool(o, 1, true)) });
        if (outbound)
        {
            hcm.HttpFilters.Add(new HttpFilter { Name = "istio.alpn", TypedConfig = OpaqueAny("istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig", WriteAlpnOverrides) });
        }

        hcm.HttpFilters.Add(new HttpFilter { Name = "envoy.filters.http.fault", TypedConfig = Any.Pack(new HTTPFault()) });
        hcm.HttpFilters.Add(new HttpFilter { Name = "envoy.filters.http.cors", TypedConfig = Any.Pack(new Cors()) });
        hcm.HttpFilters.Add(new HttpFilter { Name = "istio.stats", TypedConfig = OpaqueAny("stats.PluginConfig") });
        hcm.HttpFilters.Add(new HttpFilter { Name = "envoy.filters.http.router", TypedConfig = Any.Pack(new Router()) });

        // tracing (7, the tracer's sampling) and request_id_extension (36, UUIDs used for trace sampling).
        return WithRaw(hcm, o =>
        {
            WriteMessage(o, 7, []);
            WriteMessage(o, 36, MessageBytes(w => WriteMessage(w, 1, OpaqueAny("envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig", u => WriteMessage(u, 2, MessageBytes(b => WriteBool(b, 1, true)))).ToByteArray())));
        });
    }

    private static RouteConfiguration InboundRoute(string name, string vhostName, string cluster, string operation)
    {
        var action = new RouteAction
        {
            Cluster = cluster,
            Timeout = new Duration(),
            MaxStreamDuration = new RouteAction.Types.MaxStreamDuration { MaxStreamDuration_ = new Duration(), GrpcTimeoutHeaderMax = new Duration() },
        };
        var route = WithRaw(new Route { Name = "default", Match = new RouteMatch { Prefix = "/" }, Route_ = action }, o => WriteDecorator(o, operation));
        var vhost = new VirtualHost { Name = vhostName };
        vhost.Domains.Add("*");
        vhost.Routes.Add(route);
        var config = new RouteConfiguration { Name = name, ValidateClusters = false };
        config.VirtualHosts.Add(vhost);
        return config;
    }

    private static FilterChain TcpChain(string name, string cluster, FilterChainMatch? match)
    {
        var chain = new FilterChain { Name = name, FilterChainMatch = match };
        chain.Filters.Add(new Filter { Name = "istio.stats", TypedConfig = OpaqueAny("stats.PluginConfig") });
        chain.Filters.Add(new Filter
        {
            Name = "envoy.filters.network.tcp_proxy",
            TypedConfig = Any.Pack(new TcpProxy { StatPrefix = cluster, Cluster = cluster }),
        });
        return chain;
    }

    private static FilterChain HcmChain(string name, Hcm hcm, FilterChainMatch match)
    {
        var chain = new FilterChain { Name = name, FilterChainMatch = match };
        chain.Filters.Add(new Filter { Name = "envoy.filters.network.http_connection_manager", TypedConfig = Any.Pack(hcm) });
        return chain;
    }

    // ---------------------------------------------------------------- RDS

    /// <summary>Route configuration "9080": one virtual host per Service on 9080, reviews split by the VirtualService.</summary>
    public static RouteConfiguration Routes(Placement? placement = null)
    {
        placement ??= new Placement();
        var config = new RouteConfiguration { Name = RouteName, ValidateClusters = false, IgnorePortInHostMatching = true };
        foreach (var service in Services)
        {
            config.VirtualHosts.Add(service == "reviews" ? ReviewsVirtualHost(placement) : DefaultVirtualHost(service));
        }

        // Istio's allow_any virtual host (outboundTrafficPolicy ALLOW_ANY): unknown hosts on port 9080 pass through.
        var allowAny = new VirtualHost { Name = "allow_any" };
        allowAny.Domains.Add("*");
        allowAny.Routes.Add(new Route
        {
            Name = "allow_any",
            Match = new RouteMatch { Prefix = "/" },
            Route_ = WithMaxGrpcTimeout(new RouteAction { Cluster = "PassthroughCluster", Timeout = new Duration() }),
        });
        config.VirtualHosts.Add(WithRaw(allowAny, o => WriteBool(o, 14, true)));

        // max_direct_response_body_size_bytes (11): 1 MiB.
        return WithRaw(config, o => WriteMessage(o, 11, MessageBytes(w => WriteVarint(w, 1, 1024 * 1024))));
    }

    private static VirtualHost DefaultVirtualHost(string service)
    {
        var host = $"{service}.{Namespace}.svc.cluster.local";
        var action = new RouteAction { Cluster = ClusterName(service), Timeout = new Duration(), RetryPolicy = DefaultRetryPolicy(previousHosts: true) };
        var route = WithRaw(new Route { Name = "default", Match = new RouteMatch { Prefix = "/" }, Route_ = WithMaxGrpcTimeout(action) }, o => WriteDecorator(o, host + ":9080/*"));
        var vhost = new VirtualHost { Name = host + ":9080" };
        vhost.Domains.Add(Domains(service));
        vhost.Routes.Add(route);
        return WithRaw(vhost, o => WriteBool(o, 14, true)); // include_request_attempt_count
    }

    private static VirtualHost ReviewsVirtualHost(Placement placement)
    {
        var weighted = new WeightedCluster();
        var weights = new[] { placement.ReviewsV1Weight, placement.ReviewsV2Weight, placement.ReviewsV3Weight };
        var action = new RouteAction { WeightedClusters = weighted, Timeout = new Duration(), RetryPolicy = DefaultRetryPolicy(previousHosts: false) };
        for (var i = 0; i < ReviewsSubsets.Length; i++)
        {
            if (weights[i] == 0)
            {
                // istiod leaves 0-weight destinations out.
                continue;
            }

            weighted.Clusters.Add(new WeightedCluster.Types.ClusterWeight { Name = ClusterName("reviews", ReviewsSubsets[i]), Weight = weights[i] });

            // One hash policy per weighted destination (the DestinationRule's consistentHash.httpCookie).
            action.HashPolicy.Add(new RouteAction.Types.HashPolicy { Cookie = new RouteAction.Types.HashPolicy.Types.Cookie { Name = CookieName, Ttl = new Duration() } });
        }

        var route = new Route
        {
            Name = "reviews-split",
            Match = new RouteMatch { Prefix = "/" },
            Route_ = WithMaxGrpcTimeout(action),
            Metadata = IstioMetadata(new Struct { Fields = { ["config"] = Value.ForString($"/apis/networking.istio.io/v1/namespaces/{Namespace}/virtual-service/reviews") } }),
        };
        route.RequestHeadersToAdd.Add(new HeaderValueOption
        {
            Header = new HeaderValue { Key = "x-bookinfo-route", Value = "reviews-split" },
            AppendAction = HeaderValueOption.Types.HeaderAppendAction.OverwriteIfExistsOrAdd,
        });

        var cors = new CorsPolicy
        {
            AllowMethods = "GET,POST",
            AllowHeaders = "x-custom",
            ExposeHeaders = "x-upstream-label",
            MaxAge = "86400",
            AllowCredentials = true,
            ForwardNotMatchingPreflights = true,
            FilterEnabled = new RuntimeFractionalPercent { DefaultValue = new FractionalPercent { Numerator = 100, Denominator = FractionalPercent.Types.DenominatorType.Hundred } },
        };
        cors.AllowOriginStringMatch.Add(new StringMatcher { Exact = AllowedOrigin });
        route.TypedPerFilterConfig["envoy.filters.http.cors"] = Any.Pack(cors);
        route = WithRaw(route, o => WriteDecorator(o, "reviews:9080/*"));

        var vhost = new VirtualHost { Name = ReviewsHost + ":9080" };
        vhost.Domains.Add(Domains("reviews"));
        vhost.Routes.Add(route);
        return WithRaw(vhost, o => WriteBool(o, 14, true));
    }

    /// <summary>istiod's default outbound retry policy (the mesh's defaultHttpRetryPolicy); no previous_hosts with consistent hashing.</summary>
    private static RetryPolicy DefaultRetryPolicy(bool previousHosts)
    {
        var policy = new RetryPolicy
        {
            RetryOn = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
            NumRetries = 2,
            HostSelectionRetryMaxAttempts = 5,
        };
        policy.RetriableStatusCodes.Add(503);
        if (previousHosts)
        {
            policy.RetryHostPredicate.Add(new RetryPolicy.Types.RetryHostPredicate
            {
                Name = "envoy.retry_host_predicates.previous_hosts",
                TypedConfig = Any.Pack(new PreviousHostsPredicate()),
            });
        }

        return policy;
    }

    private static string[] Domains(string service) =>
        [$"{service}.{Namespace}.svc.cluster.local", service, $"{service}.{Namespace}.svc", $"{service}.{Namespace}", ServiceIp(service)];

    private static string ServiceIp(string service) => "10.96.0." + (10 + Array.IndexOf(Services, service));

    // ---------------------------------------------------------------- CDS

    public static IMessage[] Clusters()
    {
        var clusters = new List<IMessage>();
        foreach (var service in Services)
        {
            clusters.Add(EdsCluster(service, "", service == "reviews"));
        }

        foreach (var subset in ReviewsSubsets)
        {
            clusters.Add(EdsCluster("reviews", subset, consistentHash: true));
        }

        clusters.Add(BlackHoleCluster());
        clusters.Add(PassthroughCluster("PassthroughCluster", inbound: false));
        clusters.Add(PassthroughCluster("InboundPassthroughCluster", inbound: true));
        clusters.Add(InboundCluster());
        return [.. clusters];
    }

    private static Cluster EdsCluster(string service, string subset, bool consistentHash)
    {
        var name = ClusterName(service, subset);
        var host = $"{service}.{Namespace}.svc.cluster.local";
        var cluster = new Cluster
        {
            Name = name,
            Type = Cluster.Types.DiscoveryType.Eds,
            EdsClusterConfig = new Cluster.Types.EdsClusterConfig
            {
                ServiceName = name,
                EdsConfig = new ConfigSource { Ads = new AggregatedConfigSource(), InitialFetchTimeout = new Duration(), ResourceApiVersion = ApiVersion.V3 },
            },
            ConnectTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(10)),
            LbPolicy = consistentHash ? Cluster.Types.LbPolicy.RingHash : Cluster.Types.LbPolicy.LeastRequest,
            CircuitBreakers = DefaultCircuitBreakers(),
            CommonLbConfig = new Cluster.Types.CommonLbConfig(),
        };
        if (consistentHash)
        {
            cluster.RingHashLbConfig = new Cluster.Types.RingHashLbConfig { MinimumRingSize = 1024 };
        }

        var services = new Struct
        {
            Fields =
            {
                ["host"] = Value.ForString(host),
                ["name"] = Value.ForString(service),
                ["namespace"] = Value.ForString(Namespace),
            },
        };
        var istio = new Struct
        {
            Fields =
            {
                ["services"] = Value.ForList(Value.ForStruct(services)),
                ["default_original_port"] = Value.ForNumber(9080),
            },
        };
        if (service == "reviews")
        {
            istio.Fields["config"] = Value.ForString($"/apis/networking.istio.io/v1/namespaces/{Namespace}/destination-rule/reviews");
        }

        if (subset.Length > 0)
        {
            istio.Fields["subset"] = Value.ForString(subset);
        }

        cluster.Metadata = IstioMetadata(istio);
        cluster.Filters.Add(new ClusterFilter { Name = "istio.metadata_exchange", TypedConfig = OpaqueAny("envoy.tcp.metadataexchange.config.MetadataExchange", o => WriteString(o, 1, "istio-peer-exchange")) });
        return WithRaw(cluster, o => WriteString(o, 28, name + ";")); // alt_stat_name
    }

    private static Cluster BlackHoleCluster() => WithRaw(
        new Cluster
        {
            Name = "BlackHoleCluster",
            Type = Cluster.Types.DiscoveryType.Static,
            ConnectTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(10)),
        },
        o => WriteString(o, 28, "BlackHoleCluster;"));

    private static Cluster PassthroughCluster(string name, bool inbound)
    {
        var options = new UpstreamHttpProtocolOptions
        {
            CommonHttpProtocolOptions = new CoreHttpProtocolOptions
            {
                IdleTimeout = Duration.FromTimeSpan(TimeSpan.FromMinutes(5)),
            },
            UseDownstreamProtocolConfig = new UpstreamHttpProtocolOptions.Types.UseDownstreamHttpConfig
            {
                HttpProtocolOptions = new Http1ProtocolOptions(),
                Http2ProtocolOptions = new Http2ProtocolOptions(),
            },
        };
        var cluster = new Cluster
        {
            Name = name,
            Type = Cluster.Types.DiscoveryType.OriginalDst,
            ConnectTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(10)),
            LbPolicy = Cluster.Types.LbPolicy.ClusterProvided,
            CircuitBreakers = DefaultCircuitBreakers(),
        };
        cluster.TypedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] = Any.Pack(options);
        if (inbound)
        {
            cluster.UpstreamBindConfig = new BindConfig { SourceAddress = new CoreSocketAddress { Address = "127.0.0.6", PortValue = 0 } };
        }
        else
        {
            cluster.Filters.Add(new ClusterFilter { Name = "istio.metadata_exchange", TypedConfig = OpaqueAny("envoy.tcp.metadataexchange.config.MetadataExchange", o => WriteString(o, 1, "istio-peer-exchange")) });
        }

        return WithRaw(cluster, o => WriteString(o, 28, name + ";"));
    }

    /// <summary>inbound|9080||: ORIGINAL_DST to the app, from 127.0.0.6 so iptables lets it out, host cleanup disabled.</summary>
    private static Cluster InboundCluster()
    {
        var services = new Struct
        {
            Fields =
            {
                ["host"] = Value.ForString($"productpage.{Namespace}.svc.cluster.local"),
                ["name"] = Value.ForString("productpage"),
                ["namespace"] = Value.ForString(Namespace),
            },
        };
        var cluster = new Cluster
        {
            Name = "inbound|9080||",
            Type = Cluster.Types.DiscoveryType.OriginalDst,
            ConnectTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(10)),
            LbPolicy = Cluster.Types.LbPolicy.ClusterProvided,
            CircuitBreakers = DefaultCircuitBreakers(),
            CommonLbConfig = new Cluster.Types.CommonLbConfig(),
            UpstreamBindConfig = new BindConfig { SourceAddress = new CoreSocketAddress { Address = "127.0.0.6", PortValue = 0 } },
            Metadata = IstioMetadata(new Struct { Fields = { ["services"] = Value.ForList(Value.ForStruct(services)) } }),
        };

        // alt_stat_name (28); cleanup_interval (20): istiod's maximum, 9223372035 s.
        return WithRaw(cluster, o =>
        {
            WriteString(o, 28, "inbound|9080||;");
            WriteMessage(o, 20, DurationBytes(9223372035));
        });
    }

    /// <summary>istiod's default thresholds: everything at uint32 max, remaining capacity tracked.</summary>
    private static CircuitBreakers DefaultCircuitBreakers()
    {
        var thresholds = new CircuitBreakers.Types.Thresholds
        {
            MaxConnections = uint.MaxValue,
            MaxPendingRequests = uint.MaxValue,
            MaxRequests = uint.MaxValue,
            MaxRetries = uint.MaxValue,
        };
        var breakers = new CircuitBreakers();
        breakers.Thresholds.Add(WithRaw(thresholds, o => WriteBool(o, 6, true))); // track_remaining
        return breakers;
    }

    // ---------------------------------------------------------------- EDS

    /// <summary>The endpoints of every EDS cluster: reviews v1/v2/v3 at the given ports, the other services at <paramref name="otherPort"/>.</summary>
    public static IMessage[] Endpoints(int reviewsV1Port, int reviewsV2Port, int reviewsV3Port, int otherPort)
    {
        var assignments = new List<IMessage>();
        var ports = new[] { reviewsV1Port, reviewsV2Port, reviewsV3Port };
        foreach (var service in Services)
        {
            if (service == "reviews")
            {
                assignments.Add(Assignment(ClusterName("reviews"), ("reviews", "v1", reviewsV1Port), ("reviews", "v2", reviewsV2Port), ("reviews", "v3", reviewsV3Port)));
                continue;
            }

            assignments.Add(Assignment(ClusterName(service), (service, "v1", otherPort)));
        }

        for (var i = 0; i < ReviewsSubsets.Length; i++)
        {
            assignments.Add(Assignment(ClusterName("reviews", ReviewsSubsets[i]), ("reviews", ReviewsSubsets[i], ports[i])));
        }

        return [.. assignments];
    }

    /// <summary>One locality (weight = its endpoint count, as istiod sets it), endpoints with Istio's metadata.</summary>
    public static ClusterLoadAssignment Assignment(string clusterName, params (string Service, string Version, int Port)[] endpoints)
    {
        var locality = new LocalityLbEndpoints
        {
            Locality = new Locality { Region = "us-central1", Zone = "us-central1-a" },
            LoadBalancingWeight = (uint)endpoints.Length,
        };
        foreach (var (service, version, port) in endpoints)
        {
            var metadata = new Metadata();
            metadata.FilterMetadata["istio"] = new Struct { Fields = { ["workload"] = Value.ForString($"{service}-{version};{Namespace};{service};{version};Kubernetes") } };

            // The sidecar-injected pod's label security.istio.io/tlsMode=istio, for transport_socket_matches (auto mTLS).
            metadata.FilterMetadata["envoy.transport_socket_match"] = new Struct { Fields = { ["tlsMode"] = Value.ForString("istio") } };
            locality.LbEndpoints.Add(new LbEndpoint
            {
                Endpoint = new Endpoint { Address = SocketAddress("127.0.0.1", port) },
                HealthStatus = HealthStatus.Healthy,
                Metadata = metadata,
                LoadBalancingWeight = 1,
            });
        }

        var assignment = new ClusterLoadAssignment { ClusterName = clusterName };
        assignment.Endpoints.Add(locality);
        return assignment;
    }

    // ---------------------------------------------------------------- raw protobuf helpers

    private static Metadata IstioMetadata(Struct istio)
    {
        var metadata = new Metadata();
        metadata.FilterMetadata["istio"] = istio;
        return metadata;
    }

    private static Address SocketAddress(string address, int port) =>
        new() { SocketAddress = new CoreSocketAddress { Address = address, PortValue = (uint)port } };

    private static RouteAction WithMaxGrpcTimeout(RouteAction action) => WithRaw(action, o => WriteMessage(o, 23, [])); // max_grpc_timeout: 0s

    private static void WriteDecorator(CodedOutputStream output, string operation) =>
        WriteMessage(output, 5, MessageBytes(o => WriteString(o, 1, operation)));

    private static void WriteAlpnOverrides(CodedOutputStream output)
    {
        // FilterConfig.alpn_override (1): AlpnOverride { upstream_protocol (1): HTTP10/HTTP11/HTTP2 = 0/1/2, alpn_override (2) }.
        (int Protocol, string[] Alpns)[] overrides = [(0, ["istio-http/1.0", "istio", "http/1.0"]), (1, ["istio-http/1.1", "istio", "http/1.1"]), (2, ["istio-h2", "istio", "h2"])];
        foreach (var (protocol, alpns) in overrides)
        {
            WriteMessage(output, 1, MessageBytes(o =>
            {
                if (protocol != 0)
                {
                    WriteVarint(o, 1, (ulong)protocol);
                }

                foreach (var alpn in alpns)
                {
                    WriteString(o, 2, alpn);
                }
            }));
        }
    }

    /// <summary>An Any of a type outside SharpProxy's descriptors (Istio's own filters), its payload written raw.</summary>
    private static Any OpaqueAny(string typeName, Action<CodedOutputStream>? write = null) =>
        new() { TypeUrl = TypePrefix + typeName, Value = ByteString.CopyFrom(write is null ? [] : MessageBytes(write)) };

    /// <summary>The message with extra fields appended in wire form: they parse back as unknown fields and travel with it.</summary>
    private static T WithRaw<T>(T message, Action<CodedOutputStream> write)
        where T : IMessage<T>
    {
        var bytes = message.ToByteArray().Concat(MessageBytes(write)).ToArray();
        return (T)message.Descriptor.Parser.ParseFrom(bytes);
    }

    private static byte[] MessageBytes(Action<CodedOutputStream> write)
    {
        using var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        write(output);
        output.Flush();
        return stream.ToArray();
    }

    private static byte[] DurationBytes(long seconds) => MessageBytes(o => WriteVarint(o, 1, (ulong)seconds));

    private static void WriteMessage(CodedOutputStream output, int field, byte[] bytes)
    {
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(bytes));
    }

    private static void WriteString(CodedOutputStream output, int field, string value)
    {
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteString(value);
    }

    private static void WriteBool(CodedOutputStream output, int field, bool value)
    {
        output.WriteTag(field, WireFormat.WireType.Varint);
        output.WriteBool(value);
    }

    private static void WriteVarint(CodedOutputStream output, int field, ulong value)
    {
        output.WriteTag(field, WireFormat.WireType.Varint);
        output.WriteUInt64(value);
    }
}

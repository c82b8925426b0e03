using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using SharpProxy.Core.Configuration;
using SharpProxy.Xds.Api.Config.Core.V3;
using SharpProxy.Xds.Api.Config.Listener.V3;
using SharpProxy.Xds.Api.Config.Route.V3;
using SharpProxy.Xds.Api.Extensions.Filters.Http.Fault.V3;
using SharpProxy.Xds.Api.Extensions.Filters.Http.Router.V3;
using SharpProxy.Xds.Api.Extensions.Filters.Network.HttpConnectionManager.V3;
using SharpProxy.Xds.Translation;

namespace SharpProxy.Xds.Tests.Bootstrap;

public sealed class FaultFilterTranslationTests
{
    [Fact]
    public void FilterAndPerRouteConfig_Translated_PercentagesNormalisedToMillionths()
    {
        var route = RouteWithFault(new HTTPFault
        {
            Delay = new Api.Extensions.Filters.Common.Fault.V3.FaultDelay
            {
                FixedDelay = Duration.FromTimeSpan(TimeSpan.FromSeconds(2)),
                Percentage = new Api.Type.V3.FractionalPercent { Numerator = 10 },
            },
            Abort = new FaultAbort { HttpStatus = 503, Percentage = new Api.Type.V3.FractionalPercent { Numerator = 25, Denominator = Api.Type.V3.FractionalPercent.Types.DenominatorType.TenThousand } },
        });
        var errors = new TranslationErrors();
        var http = Translate(Hcm(route, new HttpFilter { Name = "envoy.filters.http.fault", TypedConfig = Any.Pack(new HTTPFault()) }), errors);

        Assert.Empty(errors.All);
        Assert.NotNull(http.FaultFilter);
        Assert.True(http.FaultFilter.IsEmpty);
        var fault = http.RouteConfig!.VirtualHosts[0].Routes[0].Fault!;
        Assert.Equal(TimeSpan.FromSeconds(2), fault.Delay);
        Assert.Equal(100_000u, fault.DelayPerMillion);
        Assert.Equal(503, fault.AbortHttpStatus);
        Assert.Equal(2_500u, fault.AbortPerMillion);
    }

    [Fact]
    public void ObserveOnlyIstioFilters_Skipped_TrafficChangingUnknownFilter_Refused()
    {
        var typedStruct = new Any { TypeUrl = "type.googleapis.com/udpa.type.v1.TypedStruct", Value = ByteString.Empty };
        var errors = new TranslationErrors();
        Translate(
            Hcm(
                RouteWithFault(null),
                new HttpFilter { Name = "istio.metadata_exchange", TypedConfig = typedStruct },
                new HttpFilter { Name = "istio.stats", TypedConfig = typedStruct },
                new HttpFilter { Name = "envoy.filters.http.grpc_stats", TypedConfig = typedStruct },
                new HttpFilter { Name = "istio.alpn", TypedConfig = typedStruct },
                new HttpFilter { Name = "envoy.filters.http.cors", TypedConfig = new Any { TypeUrl = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" } },
                new HttpFilter { Name = "envoy.filters.http.rbac", TypedConfig = new Any { TypeUrl = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC" } }),
            errors);

        // CORS is implemented now; RBAC changes traffic and is not.
        var error = Assert.Single(errors.All);
        Assert.Contains("http_filters[5]", error, StringComparison.Ordinal);
        Assert.Contains("envoy.filters.http.rbac", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(700u, "abort.http_status")]
    [InlineData(0u, "abort: one of http_status, grpc_status")]
    public void InvalidAbort_ErrorNamesTheField(uint status, string expected)
    {
        var abort = new FaultAbort();
        if (status > 0)
        {
            abort.HttpStatus = status;
        }

        var errors = new TranslationErrors();
        Translate(Hcm(RouteWithFault(new HTTPFault { Abort = abort }), new HttpFilter { Name = "envoy.filters.http.fault", TypedConfig = Any.Pack(new HTTPFault()) }), errors);

        Assert.Contains(errors.All, e => e.Contains("typed_per_filter_config['envoy.filters.http.fault']." + expected, StringComparison.Ordinal));
    }

    [Fact]
    public void PerRouteConfigOfAnotherFilter_Refused()
    {
        var route = RouteWithFault(null);
        route.TypedPerFilterConfig.Add("envoy.filters.http.rbac", new Any { TypeUrl = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute" });
        var errors = new TranslationErrors();
        Translate(Hcm(route), errors);

        Assert.Contains(errors.All, e => e.Contains("typed_per_filter_config['envoy.filters.http.rbac']", StringComparison.Ordinal) && e.Contains("not supported yet", StringComparison.Ordinal));
    }

    private static Route RouteWithFault(HTTPFault? fault)
    {
        var route = new Route { Match = new RouteMatch { Prefix = "/" }, Route_ = new RouteAction { Cluster = "c" } };
        if (fault is not null)
        {
            route.TypedPerFilterConfig.Add("envoy.filters.http.fault", Any.Pack(fault));
        }

        return route;
    }

    private static HttpConnectionManager Hcm(Route route, params HttpFilter[] filters)
    {
        var vhost = new VirtualHost { Name = "v" };
        vhost.Domains.Add("*");
        vhost.Routes.Add(route);
        var hcm = new HttpConnectionManager { StatPrefix = "in", RouteConfig = new RouteConfiguration { Name = "r" } };
        hcm.RouteConfig.VirtualHosts.Add(vhost);
        hcm.HttpFilters.AddRange(filters);
        hcm.HttpFilters.Add(new HttpFilter { Name = "envoy.filters.http.router", TypedConfig = Any.Pack(new Router()) });
        return hcm;
    }

    private static HttpConnectionManagerConfig Translate(HttpConnectionManager hcm, TranslationErrors errors)
    {
        var listener = new Listener { Name = "l", Address = new Address { SocketAddress = new SocketAddress { Address = "127.0.0.1", PortValue = 1 } } };
        var chain = new FilterChain();
        chain.Filters.Add(new Filter { Name = "envoy.filters.network.http_connection_manager", TypedConfig = Any.Pack(hcm) });
        listener.FilterChains.Add(chain);
        return ListenerTranslator.Translate(listener, "l", errors)!.FilterChains[0].Http!;
    }
}

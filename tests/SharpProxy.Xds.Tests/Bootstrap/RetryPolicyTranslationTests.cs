using SharpProxy.Core.Configuration;
using SharpProxy.Xds.Bootstrap;

namespace SharpProxy.Xds.Tests.Bootstrap;

public sealed class RetryPolicyTranslationTests
{
    /// <summary>The retry policy istiod puts on every outbound route by default.</summary>
    private const string IstioDefault = """
        retry_policy:
          retry_on: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
          num_retries: 2
          retry_host_predicate:
          - name: envoy.retry_host_predicates.previous_hosts
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate
          host_selection_retry_max_attempts: "5"
          retriable_status_codes: [503]
        """;

    [Fact]
    public void IstioDefaultPolicy_Translated()
    {
        var policy = LoadAction(IstioDefault).RetryPolicy!;

        Assert.Equal(RetryOn.ConnectFailure | RetryOn.RefusedStream | RetryOn.GrpcUnavailable | RetryOn.GrpcCancelled | RetryOn.RetriableStatusCodes, policy.RetryOn);
        Assert.Equal(2, policy.NumRetries);
        Assert.True(policy.AvoidPreviousHosts);
        Assert.Equal(5, policy.HostSelectionMaxAttempts);
        Assert.Equal(new[] { 503 }, policy.RetriableStatusCodes.ToArray());
        Assert.Null(policy.PerTryTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(25), policy.BaseInterval);
        Assert.Equal(TimeSpan.FromMilliseconds(250), policy.MaxInterval);
    }

    [Fact]
    public void Defaults_AsEnvoy()
    {
        var policy = LoadAction("retry_policy: { retry_on: 5xx, per_try_timeout: 0.25s, retry_back_off: { base_interval: 0.1s } }").RetryPolicy!;

        Assert.Equal(RetryOn.FiveXx, policy.RetryOn);
        Assert.Equal(1, policy.NumRetries);
        Assert.Equal(TimeSpan.FromMilliseconds(250), policy.PerTryTimeout);
        Assert.Equal(TimeSpan.FromSeconds(1), policy.MaxInterval);
        Assert.False(policy.AvoidPreviousHosts);
        Assert.Equal(1, policy.HostSelectionMaxAttempts);
    }

    [Fact]
    public void VirtualHostPolicy_KeptForRoutesWithoutTheirOwn()
    {
        var loaded = Load("", vhostExtra: "retry_policy: { retry_on: gateway-error, num_retries: 4 }");
        var vhost = Assert.Single(RouteTable(loaded).VirtualHosts);

        Assert.Equal(RetryOn.GatewayError, vhost.RetryPolicy!.RetryOn);
        Assert.Equal(4, vhost.RetryPolicy.NumRetries);
        Assert.Null(Assert.Single(vhost.Routes).Forward!.RetryPolicy);
    }

    [Theory]
    [InlineData("retry_policy: { retry_on: \"5xx,bogus\" }", "route.retry_policy.retry_on", "'bogus'")]
    [InlineData("retry_policy: { retry_on: retriable-headers }", "route.retry_policy.retry_on", "'retriable-headers'")]
    [InlineData("retry_policy: { retry_on: \"\" }", "route.retry_policy.retry_on", "at least one")]
    [InlineData("retry_policy: { retry_on: retriable-status-codes }", "route.retry_policy.retriable_status_codes", "never retry")]
    [InlineData("retry_policy: { retry_on: retriable-status-codes, retriable_status_codes: [503, 700] }", "route.retry_policy.retriable_status_codes[1]", "700")]
    [InlineData("retry_policy: { retry_on: 5xx, per_try_timeout: -1s }", "route.retry_policy.per_try_timeout", "negative")]
    [InlineData("retry_policy: { retry_on: 5xx, retry_back_off: { max_interval: 1s } }", "route.retry_policy.retry_back_off.base_interval", "required")]
    [InlineData("retry_policy: { retry_on: 5xx, retry_back_off: { base_interval: 1s, max_interval: 0.5s } }", "route.retry_policy.retry_back_off.max_interval", "below")]
    [InlineData("retry_policy: { retry_on: 5xx, retry_host_predicate: [ { name: envoy.retry_host_predicates.omit_canary_hosts } ] }", "route.retry_policy.retry_host_predicate[0]", "omit_canary_hosts")]
    public void InvalidPolicies_ErrorNamesTheField(string extra, string path, string message)
    {
        var ex = Assert.Throws<ConfigException>(() => Load(extra));
        var error = Assert.Single(ex.Errors);
        Assert.Contains("routes[0]." + path + ":", error, StringComparison.Ordinal);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public void UseHashPolicy_Translated()
    {
        var action = LoadAction("hash_policy: [ { header: { header_name: x-user } } ]", weighted: true, useHashPolicy: true);

        Assert.True(action.WeightedClusters!.UseHashPolicy);
    }

    [Fact]
    public void UseHashPolicy_WithoutHashPolicy_IsAnError()
    {
        var ex = Assert.Throws<ConfigException>(() => Load("", weighted: true, useHashPolicy: true));
        Assert.Contains("routes[0].route.weighted_clusters.use_hash_policy: needs the route's hash_policy", Assert.Single(ex.Errors), StringComparison.Ordinal);
    }

    private static RouteActionConfig LoadAction(string extra, bool weighted = false, bool useHashPolicy = false) =>
        Assert.Single(Assert.Single(RouteTable(Load(extra, weighted: weighted, useHashPolicy: useHashPolicy)).VirtualHosts).Routes).Forward!;

    private static RouteTableConfig RouteTable(LoadedBootstrap loaded)
    {
        var listener = Assert.Single(loaded.Config.Listeners);
        var http = Assert.IsType<HttpConnectionManagerConfig>(Assert.Single(listener.FilterChains).Http);
        return http.RouteConfig!;
    }

    private static LoadedBootstrap Load(string extra, string vhostExtra = "", bool weighted = false, bool useHashPolicy = false)
    {
        var target = weighted
            ? "weighted_clusters: { use_hash_policy: " + (useHashPolicy ? "true" : "false") + ", clusters: [ { name: c, weight: 90 }, { name: d, weight: 10 } ] }"
            : "cluster: c";
        var routeLines = Indent(target + "\n" + extra, 18);
        var vhostLines = Indent(vhostExtra, 14);
        var yaml = $$"""
            static_resources:
              listeners:
              - name: l
                address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
                filter_chains:
                - filters:
                  - name: envoy.filters.network.http_connection_manager
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                      stat_prefix: in
                      route_config:
                        virtual_hosts:
                        - name: v
                          domains: ["*"]
            {{vhostLines}}
                          routes:
                          - match: { prefix: / }
                            route:
            {{routeLines}}
                      http_filters:
                      - name: envoy.filters.http.router
                        typed_config:
                          "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
              clusters:
              - name: c
                type: STATIC
                load_assignment:
                  cluster_name: c
                  endpoints:
                  - lb_endpoints:
                    - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 9081 } } }
              - name: d
                type: STATIC
                load_assignment:
                  cluster_name: d
                  endpoints:
                  - lb_endpoints:
                    - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 9082 } } }
            """;
        return BootstrapLoader.LoadFromJson(YamlJson.Parse(yaml)!, "test.yaml", allowUnknownFields: false);
    }

    private static string Indent(string text, int spaces)
    {
        var pad = new string(' ', spaces);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return string.Join("\n", Array.ConvertAll(lines, line => pad + line));
    }
}

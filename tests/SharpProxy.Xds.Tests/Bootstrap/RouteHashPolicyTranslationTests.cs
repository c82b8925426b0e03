using SharpProxy.Core.Configuration;
using SharpProxy.Xds.Bootstrap;

namespace SharpProxy.Xds.Tests.Bootstrap;

public sealed class RouteHashPolicyTranslationTests
{
    [Fact]
    public void AllPolicyKinds_TranslatedInOrder()
    {
        var policies = LoadRoute(
            "[ { header: { header_name: X-User } }, "
            + "{ cookie: { name: sid, ttl: 3600s, path: /, attributes: [{ name: SameSite, value: Lax }] }, terminal: true }, "
            + "{ connection_properties: { source_ip: true } }, { connection_properties: { source_ip: false } }, "
            + "{ query_parameter: { name: user } } ]").HashPolicies;

        Assert.Equal(4, policies.Length);
        Assert.Equal(HashPolicyKind.Header, policies[0].Kind);
        Assert.Equal("x-user", policies[0].Name);
        Assert.Equal(HashPolicyKind.Cookie, policies[1].Kind);
        Assert.Equal("sid", policies[1].Name);
        Assert.True(policies[1].Terminal);
        Assert.Equal(TimeSpan.FromHours(1), policies[1].CookieTtl);
        Assert.Equal("/", policies[1].CookiePath);
        Assert.Equal(new KeyValuePair<string, string>("SameSite", "Lax"), Assert.Single(policies[1].CookieAttributes));
        Assert.Equal(HashPolicyKind.SourceIp, policies[2].Kind);
        Assert.Equal(HashPolicyKind.QueryParameter, policies[3].Kind);
        Assert.Equal("user", policies[3].Name);
    }

    [Fact]
    public void CookieWithoutTtl_HasNoTtl()
    {
        var policy = Assert.Single(LoadRoute("[ { cookie: { name: sid } } ]").HashPolicies);
        Assert.Null(policy.CookieTtl);
        Assert.Null(policy.CookiePath);
    }

    [Theory]
    [InlineData("[ { header: { header_name: \"\" } } ]", "hash_policy[0].header.header_name")]
    [InlineData("[ { query_parameter: { name: user } }, { cookie: { name: \"\" } } ]", "hash_policy[1].cookie.name")]
    [InlineData("[ { terminal: true } ]", "hash_policy[0]")]
    public void InvalidPolicies_ErrorWithPath(string policies, string path)
    {
        var ex = Assert.Throws<ConfigException>(() => Load(policies));
        Assert.Contains("routes[0].route." + path, Assert.Single(ex.Errors), StringComparison.Ordinal);
    }

    private static RouteActionConfig LoadRoute(string policies)
    {
        var listener = Assert.Single(Load(policies).Config.Listeners);
        var http = Assert.IsType<HttpConnectionManagerConfig>(Assert.Single(listener.FilterChains).Http);
        return Assert.Single(Assert.Single(http.RouteConfig!.VirtualHosts).Routes).Forward!;
    }

    private static LoadedBootstrap Load(string policies) =>
        BootstrapLoader.LoadFromJson(YamlJson.Parse($$"""
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
                          routes:
                          - match: { prefix: / }
                            route:
                              cluster: c
                              hash_policy: {{policies}}
                      http_filters:
                      - name: envoy.filters.http.router
                        typed_config:
                          "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
              clusters:
              - name: c
                type: STATIC
                lb_policy: RING_HASH
                load_assignment:
                  cluster_name: c
                  endpoints:
                  - lb_endpoints:
                    - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 9081 } } }
            """)!, "test.yaml", allowUnknownFields: false);
}

using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary><c>--mode validate</c>: exit 0 for a valid config; exit 1 with every error, each naming its path, on stderr.</summary>
public sealed class ValidateModeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(30);

    private const string TwoUnhonouredFields = """
        admin:
          address:
            socket_address:
              address: 127.0.0.1
              port_value: 0
        static_resources:
          listeners:
          - name: main
            address:
              socket_address:
                address: 127.0.0.1
                port_value: 0
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: ingress_http
                  route_config:
                    virtual_hosts:
                    - name: backend
                      domains: ["*"]
                      routes:
                      - match:
                          prefix: "/"
                        route:
                          cluster: a
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          clusters:
          - name: a
            connect_timeout: 1s
            type: STATIC
            dns_lookup_family: V4_ONLY
            load_assignment:
              cluster_name: a
              endpoints:
              - lb_endpoints:
                - endpoint:
                    address:
                      socket_address:
                        address: 127.0.0.1
                        port_value: 18081
          - name: b
            connect_timeout: 1s
            type: STATIC
            respect_dns_ttl: true
            load_assignment:
              cluster_name: b
              endpoints:
              - lb_endpoints:
                - endpoint:
                    address:
                      socket_address:
                        address: 127.0.0.1
                        port_value: 18082

        """;

    private const string UnknownTypedConfigType = """
        static_resources:
          listeners:
          - name: main
            address:
              socket_address:
                address: 127.0.0.1
                port_value: 0
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: ingress_http
                  route_config:
                    virtual_hosts:
                    - name: backend
                      domains: ["*"]
                      routes:
                      - match:
                          prefix: "/"
                        route:
                          cluster: a
                  http_filters:
                  - name: envoy.filters.http.sharpproxy_test_nonexistent
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.sharpproxy_test_nonexistent.v3.DoesNotExist
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          clusters:
          - name: a
            connect_timeout: 1s
            type: STATIC
            load_assignment:
              cluster_name: a
              endpoints:
              - lb_endpoints:
                - endpoint:
                    address:
                      socket_address:
                        address: 127.0.0.1
                        port_value: 18081

        """;

    private const string MinimalJson = """
        {
          "admin": { "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } } },
          "static_resources": {
            "listeners": [{
              "name": "main",
              "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } },
              "filter_chains": [{
                "filters": [{
                  "name": "envoy.filters.network.http_connection_manager",
                  "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "ingress_http",
                    "codec_type": "AUTO",
                    "route_config": {
                      "name": "local_route",
                      "virtual_hosts": [{
                        "name": "backend",
                        "domains": ["*"],
                        "routes": [{ "match": { "prefix": "/" }, "route": { "cluster": "a" } }]
                      }]
                    },
                    "http_filters": [{
                      "name": "envoy.filters.http.router",
                      "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" }
                    }]
                  }
                }]
              }]
            }],
            "clusters": [{
              "name": "a",
              "connect_timeout": "1s",
              "type": "STATIC",
              "lb_policy": "ROUND_ROBIN",
              "load_assignment": {
                "cluster_name": "a",
                "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": { "socket_address": { "address": "127.0.0.1", "port_value": 18081 } } } }] }]
              }
            }]
          }
        }
        """;

    public static TheoryData<string> TestTemplates => ["Forwarding", "Canary", "LocalReplies", "UnknownCluster"];

    [Theory]
    [MemberData(nameof(TestTemplates))]
    public async Task Validate_TestTemplate_ExitsZero(string template)
    {
        var text = template switch
        {
            "Forwarding" => ConfigWriter.Fill(ConfigTemplates.Forwarding, Ports(("V1_HTTP1_PORT", 18081), ("V1_HTTP2_PORT", 18082))),
            "Canary" => ConfigWriter.Fill(ConfigTemplates.Canary, Ports(("V1_HTTP1_PORT", 18081), ("V2_HTTP1_PORT", 18082))),
            "LocalReplies" => ConfigWriter.Fill(
                ConfigTemplates.LocalReplies,
                new Dictionary<string, string>(Ports(("V1_HTTP1_PORT", 18081), ("CLOSED_PORT", 18083)), StringComparer.Ordinal) { ["ACCESS_LOG_PATH"] = "/tmp/sharpproxy-validate-access.log" }),
            "UnknownCluster" => ConfigWriter.Fill(ConfigTemplates.UnknownCluster, Ports(("V1_HTTP1_PORT", 18081))),
            _ => throw new ArgumentOutOfRangeException(nameof(template)),
        };
        using var config = ConfigWriter.WriteText(text);

        var result = await ProxyProcess.RunToCompletionAsync(["--mode", "validate", "-c", config.Path], RunTimeout);

        output.WriteLine(result.ToString());
        Assert.True(result.ExitCode == 0, $"{template} did not validate: {result}");
    }

    [Fact]
    public async Task Validate_JsonBootstrap_ExitsZero()
    {
        using var config = ConfigWriter.WriteText(MinimalJson, ".json");

        var result = await ProxyProcess.RunToCompletionAsync(["--mode", "validate", "-c", config.Path], RunTimeout);

        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Fact]
    public async Task Validate_ConfigYamlArgument_ExitsZero()
    {
        var yaml = ConfigWriter.Fill(ConfigTemplates.Canary, Ports(("V1_HTTP1_PORT", 18081), ("V2_HTTP1_PORT", 18082)));

        var result = await ProxyProcess.RunToCompletionAsync(["--mode", "validate", "--config-yaml", yaml], RunTimeout);

        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Fact]
    public async Task Validate_TwoUnhonouredFields_ExitsOneListingBothPaths()
    {
        using var config = ConfigWriter.WriteText(TwoUnhonouredFields);

        var result = await ProxyProcess.RunToCompletionAsync(["--mode", "validate", "-c", config.Path], RunTimeout);

        output.WriteLine(result.ToString());
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("static_resources.clusters[0].dns_lookup_family", result.StandardError, StringComparison.Ordinal);
        Assert.Contains("static_resources.clusters[1].respect_dns_ttl", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_UnhonouredFieldWithAllowUnknownStaticFields_ExitsZero()
    {
        using var config = ConfigWriter.WriteText(TwoUnhonouredFields);

        var result = await ProxyProcess.RunToCompletionAsync(["--mode", "validate", "--allow-unknown-static-fields", "-c", config.Path], RunTimeout);

        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Fact]
    public async Task Validate_UnknownTypedConfigType_ExitsOneNamingTheTypeUrl()
    {
        using var config = ConfigWriter.WriteText(UnknownTypedConfigType);

        var result = await ProxyProcess.RunToCompletionAsync(["--mode", "validate", "-c", config.Path], RunTimeout);

        output.WriteLine(result.ToString());
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("type.googleapis.com/envoy.extensions.filters.http.sharpproxy_test_nonexistent.v3.DoesNotExist", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_MissingConfigFile_ExitsNonZero()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"sharpproxy-missing-{Guid.NewGuid():N}.yaml");

        var result = await ProxyProcess.RunToCompletionAsync(["--mode", "validate", "-c", missing], RunTimeout);

        Assert.True(result.ExitCode != 0, result.ToString());
        Assert.False(string.IsNullOrWhiteSpace(result.StandardError), "No error message on stderr for a missing config file.");
    }

    private static Dictionary<string, string> Ports(params (string Name, int Port)[] ports) =>
        ports.ToDictionary(p => p.Name, p => p.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparer.Ordinal);
}

using SharpProxy.Core.Configuration;
using SharpProxy.Core.LoadBalancing;
using SharpProxy.Xds.Bootstrap;

namespace SharpProxy.Xds.Tests.Bootstrap;

public sealed class ClusterLbPolicyTranslationTests
{
    [Fact]
    public void RingHash_DefaultsAsEnvoy()
    {
        var cluster = LoadCluster("lb_policy: RING_HASH");

        Assert.Equal(LbPolicyKind.RingHash, cluster.LbPolicy);
        Assert.Equal(1024UL, cluster.RingMinimumSize);
        Assert.Equal(8388608UL, cluster.RingMaximumSize);
        Assert.Equal(RingHashFunction.XxHash, cluster.RingHashFunction);
    }

    [Fact]
    public void RingHash_ConfigValuesTranslated()
    {
        var cluster = LoadCluster("lb_policy: RING_HASH\n    ring_hash_lb_config: { minimum_ring_size: 12, maximum_ring_size: 4096, hash_function: MURMUR_HASH_2 }");

        Assert.Equal(12UL, cluster.RingMinimumSize);
        Assert.Equal(4096UL, cluster.RingMaximumSize);
        Assert.Equal(RingHashFunction.MurmurHash2, cluster.RingHashFunction);
    }

    [Theory]
    [InlineData("{ minimum_ring_size: 20, maximum_ring_size: 10 }", "ring_hash_lb_config.minimum_ring_size", "minimum_ring_size (20) > maximum_ring_size (10)")]
    [InlineData("{ maximum_ring_size: 8388609 }", "ring_hash_lb_config.maximum_ring_size", "at most 8388608")]
    [InlineData("{ minimum_ring_size: 0 }", "ring_hash_lb_config.minimum_ring_size", "at least 1")]
    public void RingHash_InvalidValues_ErrorsWithPath(string config, string path, string message)
    {
        var error = LoadError("lb_policy: RING_HASH\n    ring_hash_lb_config: " + config);

        Assert.Contains("static_resources.clusters[0]." + path, error, StringComparison.Ordinal);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Maglev_DefaultAndPrimeTableSize()
    {
        Assert.Equal(65537UL, LoadCluster("lb_policy: MAGLEV").MaglevTableSize);
        var cluster = LoadCluster("lb_policy: MAGLEV\n    maglev_lb_config: { table_size: 251 }");
        Assert.Equal(LbPolicyKind.Maglev, cluster.LbPolicy);
        Assert.Equal(251UL, cluster.MaglevTableSize);
    }

    [Theory]
    [InlineData("100", "must be prime")]
    [InlineData("5000012", "at most 5000011")]
    public void Maglev_InvalidTableSize_ErrorsWithPath(string size, string message)
    {
        var error = LoadError("lb_policy: MAGLEV\n    maglev_lb_config: { table_size: " + size + " }");

        Assert.Contains("static_resources.clusters[0].maglev_lb_config.table_size", error, StringComparison.Ordinal);
        Assert.Contains(message, error, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void LeastRequest_ChoiceCount()
    {
        Assert.Equal(2, LoadCluster("lb_policy: LEAST_REQUEST").LeastRequestChoiceCount);
        var cluster = LoadCluster("lb_policy: LEAST_REQUEST\n    least_request_lb_config: { choice_count: 5 }");
        Assert.Equal(LbPolicyKind.LeastRequest, cluster.LbPolicy);
        Assert.Equal(5, cluster.LeastRequestChoiceCount);

        var error = LoadError("lb_policy: LEAST_REQUEST\n    least_request_lb_config: { choice_count: 1 }");
        Assert.Contains("static_resources.clusters[0].least_request_lb_config.choice_count", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Random_Accepted()
    {
        Assert.Equal(LbPolicyKind.Random, LoadCluster("lb_policy: RANDOM").LbPolicy);
    }

    [Fact]
    public void LoadBalancingPolicyConfig_StillRefused()
    {
        var error = LoadError("lb_policy: LOAD_BALANCING_POLICY_CONFIG");

        Assert.Contains("static_resources.clusters[0].lb_policy", error, StringComparison.Ordinal);
        Assert.Contains("not supported yet", error, StringComparison.Ordinal);
    }

    [Fact]
    public void DnsRefreshRate_RefusedRatherThanIgnored()
    {
        // STRICT_DNS resolves once; accepting a refresh rate would promise re-resolution that never happens.
        var error = LoadError("dns_refresh_rate: 5s");
        Assert.Contains("static_resources.clusters[0].dns_refresh_rate", error, StringComparison.Ordinal);
        Assert.Contains("not supported yet", error, StringComparison.Ordinal);
    }

    private static string Policy(string typeAndFields) =>
        "load_balancing_policy: { policies: [ { typed_extension_config: { name: lb, typed_config: { \"@type\": type.googleapis.com/envoy.extensions.load_balancing_policies."
        + typeAndFields + " } } } ] }";

    [Fact]
    public void LoadBalancingPolicy_RingHashExtension_SameAsLegacyConfig()
    {
        var cluster = LoadCluster(Policy("ring_hash.v3.RingHash, minimum_ring_size: 12, maximum_ring_size: 4096, hash_function: MURMUR_HASH_2"));

        Assert.Equal(LbPolicyKind.RingHash, cluster.LbPolicy);
        Assert.Equal(12UL, cluster.RingMinimumSize);
        Assert.Equal(4096UL, cluster.RingMaximumSize);
        Assert.Equal(RingHashFunction.MurmurHash2, cluster.RingHashFunction);
        Assert.Equal(RingHashFunction.XxHash, LoadCluster(Policy("ring_hash.v3.RingHash, hash_function: DEFAULT_HASH")).RingHashFunction);
    }

    [Theory]
    [InlineData("maglev.v3.Maglev, table_size: 251", (int)LbPolicyKind.Maglev)]
    [InlineData("least_request.v3.LeastRequest, choice_count: 4", (int)LbPolicyKind.LeastRequest)]
    [InlineData("round_robin.v3.RoundRobin", (int)LbPolicyKind.RoundRobin)]
    [InlineData("random.v3.Random", (int)LbPolicyKind.Random)]
    public void LoadBalancingPolicy_Extensions(string typeAndFields, int expectedKind)
    {
        var expected = (LbPolicyKind)expectedKind;
        // lb_policy says RANDOM: the extension wins, as in Envoy.
        var cluster = LoadCluster("lb_policy: RANDOM\n    " + Policy(typeAndFields));

        Assert.Equal(expected, cluster.LbPolicy);
        if (expected == LbPolicyKind.Maglev)
        {
            Assert.Equal(251UL, cluster.MaglevTableSize);
        }

        if (expected == LbPolicyKind.LeastRequest)
        {
            Assert.Equal(4, cluster.LeastRequestChoiceCount);
        }
    }

    [Fact]
    public void LoadBalancingPolicy_FirstEntryWins()
    {
        var cluster = LoadCluster("load_balancing_policy: { policies: [ "
            + "{ typed_extension_config: { name: a, typed_config: { \"@type\": type.googleapis.com/envoy.extensions.load_balancing_policies.maglev.v3.Maglev } } }, "
            + "{ typed_extension_config: { name: b, typed_config: { \"@type\": type.googleapis.com/envoy.extensions.load_balancing_policies.random.v3.Random } } } ] }");

        Assert.Equal(LbPolicyKind.Maglev, cluster.LbPolicy);
    }

    [Fact]
    public void LoadBalancingPolicy_WithLegacyLbConfig_IsAnError()
    {
        var error = LoadError("ring_hash_lb_config: { minimum_ring_size: 12 }\n    " + Policy("random.v3.Random"));
        Assert.Contains("static_resources.clusters[0].load_balancing_policy", error, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadBalancingPolicy_Empty_IsAnError()
    {
        var error = LoadError("load_balancing_policy: { policies: [] }");
        Assert.Contains("static_resources.clusters[0].load_balancing_policy.policies: no policy SharpProxy supports", error, StringComparison.Ordinal);
    }

    private static string Yaml(string lb) => $$"""
        static_resources:
          clusters:
          - name: c
            type: STATIC
            connect_timeout: 1s
            {{lb}}
            load_assignment:
              cluster_name: c
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 9081 } } }
        """;

    private static ClusterConfig LoadCluster(string lb) =>
        Assert.Single(BootstrapLoader.LoadFromJson(YamlJson.Parse(Yaml(lb))!, "test.yaml", allowUnknownFields: false).Config.Clusters);

    private static string LoadError(string lb)
    {
        var ex = Assert.Throws<ConfigException>(() => BootstrapLoader.LoadFromJson(YamlJson.Parse(Yaml(lb))!, "test.yaml", allowUnknownFields: false));
        return Assert.Single(ex.Errors);
    }
}

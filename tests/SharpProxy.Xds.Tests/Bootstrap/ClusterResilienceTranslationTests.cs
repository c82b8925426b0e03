using SharpProxy.Core.Configuration;
using SharpProxy.Xds.Bootstrap;

namespace SharpProxy.Xds.Tests.Bootstrap;

/// <summary><c>common_lb_config.healthy_panic_threshold</c>, <c>outlier_detection</c> and <c>circuit_breakers</c>.</summary>
public sealed class ClusterResilienceTranslationTests
{
    [Fact]
    public void NothingConfigured_EnvoyDefaults()
    {
        var cluster = LoadCluster("");

        Assert.Equal(50, cluster.HealthyPanicThreshold);
        Assert.Null(cluster.OutlierDetection);
        Assert.Equal(CircuitBreakerThresholds.Default, cluster.CircuitBreakers);
        Assert.Equal(CircuitBreakerThresholds.Default, cluster.HighPriorityCircuitBreakers);
    }

    [Theory]
    [InlineData("0", 0)]
    [InlineData("25.4", 25)]
    [InlineData("25.5", 26)]
    [InlineData("100", 100)]
    public void PanicThreshold_RoundedToWholePercent(string value, int expected)
    {
        Assert.Equal(expected, LoadCluster("common_lb_config: { healthy_panic_threshold: { value: " + value + " } }").HealthyPanicThreshold);
    }

    [Fact]
    public void PanicThreshold_OutOfRange_ErrorWithPath()
    {
        var error = LoadError("common_lb_config: { healthy_panic_threshold: { value: 101 } }");

        Assert.Contains("static_resources.clusters[0].common_lb_config.healthy_panic_threshold.value", error, StringComparison.Ordinal);
    }

    [Fact]
    public void OutlierDetection_Empty_EnvoyDefaults()
    {
        var outlier = LoadCluster("outlier_detection: {}").OutlierDetection;

        Assert.NotNull(outlier);
        Assert.Equal(5, outlier.Consecutive5xx);
        Assert.Equal(5, outlier.ConsecutiveGatewayFailure);
        Assert.Equal(TimeSpan.FromSeconds(10), outlier.Interval);
        Assert.Equal(TimeSpan.FromSeconds(30), outlier.BaseEjectionTime);
        Assert.Equal(TimeSpan.FromSeconds(300), outlier.MaxEjectionTime);
        Assert.Equal(10, outlier.MaxEjectionPercent);
        Assert.Equal(100, outlier.EnforcingConsecutive5xx);
        Assert.Equal(0, outlier.EnforcingConsecutiveGatewayFailure);
        Assert.Equal(100, outlier.EnforcingSuccessRate);
        Assert.Equal(5, outlier.SuccessRateMinimumHosts);
        Assert.Equal(100, outlier.SuccessRateRequestVolume);
        Assert.Equal(1900, outlier.SuccessRateStdevFactor);
        Assert.Equal(85, outlier.FailurePercentageThreshold);
        Assert.Equal(0, outlier.EnforcingFailurePercentage);
        Assert.Equal(5, outlier.FailurePercentageMinimumHosts);
        Assert.Equal(50, outlier.FailurePercentageRequestVolume);
    }

    [Fact]
    public void OutlierDetection_SuccessRateAndFailurePercentage_Translated()
    {
        var outlier = LoadCluster("""
            outlier_detection:
                  enforcing_success_rate: 0
                  success_rate_minimum_hosts: 3
                  success_rate_request_volume: 10
                  success_rate_stdev_factor: 1000
                  failure_percentage_threshold: 50
                  enforcing_failure_percentage: 100
                  failure_percentage_minimum_hosts: 2
                  failure_percentage_request_volume: 20
            """).OutlierDetection!;

        Assert.Equal(0, outlier.EnforcingSuccessRate);
        Assert.Equal(3, outlier.SuccessRateMinimumHosts);
        Assert.Equal(10, outlier.SuccessRateRequestVolume);
        Assert.Equal(1000, outlier.SuccessRateStdevFactor);
        Assert.Equal(50, outlier.FailurePercentageThreshold);
        Assert.Equal(100, outlier.EnforcingFailurePercentage);
        Assert.Equal(2, outlier.FailurePercentageMinimumHosts);
        Assert.Equal(20, outlier.FailurePercentageRequestVolume);
    }

    [Fact]
    public void OutlierDetection_NotHonouredFields_Refused()
    {
        // Local-origin and jitter fields are not in the honoured subset: the loader refuses them by name.
        Assert.Contains("max_ejection_time_jitter", LoadError("outlier_detection: { max_ejection_time_jitter: 1s }"), StringComparison.Ordinal);
        Assert.Contains("always_eject_one_host", LoadError("outlier_detection: { always_eject_one_host: true }"), StringComparison.Ordinal);
    }

    [Fact]
    public void OutlierDetection_Values_Translated()
    {
        var outlier = LoadCluster("""
            outlier_detection:
                  consecutive_5xx: 3
                  consecutive_gateway_failure: 2
                  enforcing_consecutive_gateway_failure: 100
                  enforcing_consecutive_5xx: 50
                  interval: 0.2s
                  base_ejection_time: 1s
                  max_ejection_time: 5s
                  max_ejection_percent: 50
            """).OutlierDetection!;

        Assert.Equal(3, outlier.Consecutive5xx);
        Assert.Equal(2, outlier.ConsecutiveGatewayFailure);
        Assert.Equal(100, outlier.EnforcingConsecutiveGatewayFailure);
        Assert.Equal(50, outlier.EnforcingConsecutive5xx);
        Assert.Equal(TimeSpan.FromMilliseconds(200), outlier.Interval);
        Assert.Equal(TimeSpan.FromSeconds(1), outlier.BaseEjectionTime);
        Assert.Equal(TimeSpan.FromSeconds(5), outlier.MaxEjectionTime);
        Assert.Equal(50, outlier.MaxEjectionPercent);
    }

    [Fact]
    public void OutlierDetection_BaseAboveDefaultMax_MaxFollowsBase()
    {
        Assert.Equal(TimeSpan.FromSeconds(400), LoadCluster("outlier_detection: { base_ejection_time: 400s }").OutlierDetection!.MaxEjectionTime);
    }

    [Theory]
    [InlineData("{ base_ejection_time: 10s, max_ejection_time: 5s }", "outlier_detection.max_ejection_time", "cannot be smaller than base_ejection_time")]
    [InlineData("{ interval: 0s }", "outlier_detection.interval", "greater than 0")]
    [InlineData("{ max_ejection_percent: 101 }", "outlier_detection.max_ejection_percent", "at most 100")]
    [InlineData("{ enforcing_consecutive_5xx: 200 }", "outlier_detection.enforcing_consecutive_5xx", "at most 100")]
    [InlineData("{ failure_percentage_threshold: 101 }", "outlier_detection.failure_percentage_threshold", "at most 100")]
    [InlineData("{ split_external_local_origin_errors: true }", "outlier_detection.split_external_local_origin_errors", "not supported yet")]
    public void OutlierDetection_Invalid_ErrorWithPath(string config, string path, string message)
    {
        var error = LoadError("outlier_detection: " + config);

        Assert.Contains("static_resources.clusters[0]." + path, error, StringComparison.Ordinal);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public void CircuitBreakers_DefaultAndHigh_FirstEntryPerPriorityWins()
    {
        var cluster = LoadCluster("""
            circuit_breakers:
                  thresholds:
                  - { max_requests: 2, max_connections: 7 }
                  - { priority: HIGH, max_pending_requests: 9, max_retries: 1 }
                  - { priority: DEFAULT, max_requests: 500 }
            """);

        Assert.Equal(new CircuitBreakerThresholds { MaxRequests = 2, MaxConnections = 7 }, cluster.CircuitBreakers);
        Assert.Equal(new CircuitBreakerThresholds { MaxPendingRequests = 9, MaxRetries = 1 }, cluster.HighPriorityCircuitBreakers);
    }

    [Fact]
    public void CircuitBreakers_UnknownField_Refused()
    {
        var error = LoadError("circuit_breakers: { thresholds: [ { retry_budget: { budget_percent: { value: 20 } } } ] }");

        Assert.Contains("retry_budget", error, StringComparison.Ordinal);
    }

    private static string Yaml(string extra) => $$"""
        static_resources:
          clusters:
          - name: c
            type: STATIC
            connect_timeout: 1s
            {{extra}}
            load_assignment:
              cluster_name: c
              endpoints:
              - lb_endpoints:
                - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 9081 } } }
        """;

    private static ClusterConfig LoadCluster(string extra) =>
        Assert.Single(BootstrapLoader.LoadFromJson(YamlJson.Parse(Yaml(extra))!, "test.yaml", allowUnknownFields: false).Config.Clusters);

    private static string LoadError(string extra)
    {
        var ex = Assert.Throws<ConfigException>(() => BootstrapLoader.LoadFromJson(YamlJson.Parse(Yaml(extra))!, "test.yaml", allowUnknownFields: false));
        return Assert.Single(ex.Errors);
    }
}

using System.Net;
using Microsoft.Extensions.Time.Testing;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.Tests.Upstream;

/// <summary>
/// Consecutive-error outlier detection with a fake clock: detections run inline (the proxy hands them to the thread
/// pool), and the interval timer fires as the fake clock advances.
/// </summary>
public sealed class OutlierDetectorTests
{
    [Fact]
    public void Consecutive5xx_EjectsAtThreshold_BalancerAvoidsHost_UnejectsAfterBaseTime()
    {
        var (cluster, time) = Cluster(hosts: 10, new OutlierDetectionConfig());
        using var _ = cluster;
        var bad = cluster.Hosts[3];

        for (var i = 0; i < 4; i++)
        {
            cluster.Outlier!.ReportStatus(bad, 500);
        }

        Assert.False(bad.IsEjected);
        cluster.Outlier!.ReportStatus(bad, 500);
        Assert.True(bad.IsEjected);
        Assert.Equal(1, cluster.Stats.OutlierEjectionsActive);
        Assert.Equal(1, cluster.Stats.OutlierEjectionsEnforcedConsecutive5xx);
        Assert.Equal(1, cluster.Stats.OutlierEjectionsTotal);
        for (var i = 0; i < 200; i++)
        {
            Assert.NotSame(bad, cluster.Balancer.Pick(0, null, 0));
        }

        // Interval 10 s, base ejection 30 s: still out at 20 s, back on the tick at 30 s.
        time.Advance(TimeSpan.FromSeconds(20));
        Assert.True(bad.IsEjected);
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.False(bad.IsEjected);
        Assert.Equal(0, cluster.Stats.OutlierEjectionsActive);
        var picked = false;
        for (var i = 0; i < 20; i++)
        {
            picked |= ReferenceEquals(bad, cluster.Balancer.Pick(0, null, 0));
        }

        Assert.True(picked, "the unejected host is balanced to again");
    }

    [Fact]
    public void Consecutive5xx_SuccessInBetween_ResetsCount()
    {
        var (cluster, _) = Cluster(hosts: 10, new OutlierDetectionConfig());
        using var __ = cluster;
        var host = cluster.Hosts[0];

        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < 4; i++)
            {
                cluster.Outlier!.ReportStatus(host, 503);
            }

            cluster.Outlier!.ReportStatus(host, 200);
        }

        Assert.False(host.IsEjected);
        Assert.Equal(0, cluster.Stats.OutlierEjectionsDetectedConsecutive5xx);
    }

    [Fact]
    public void GatewayFailure_DetectedButNotEnforcedByDefault_EnforcedWhenConfigured()
    {
        // consecutive_5xx raised so only the gateway-failure detector can fire on five 502s.
        var (cluster, _) = Cluster(hosts: 10, new OutlierDetectionConfig { Consecutive5xx = 100 });
        using (cluster)
        {
            for (var i = 0; i < 5; i++)
            {
                cluster.Outlier!.ReportStatus(cluster.Hosts[0], 502);
            }

            Assert.False(cluster.Hosts[0].IsEjected);
            Assert.Equal(1, cluster.Stats.OutlierEjectionsDetectedConsecutiveGatewayFailure);
            Assert.Equal(0, cluster.Stats.OutlierEjectionsEnforcedTotal);
        }

        var (enforced, _) = Cluster(hosts: 10, new OutlierDetectionConfig { Consecutive5xx = 100, EnforcingConsecutiveGatewayFailure = 100 });
        using (enforced)
        {
            for (var i = 0; i < 5; i++)
            {
                enforced.Outlier!.ReportStatus(enforced.Hosts[0], 504);
            }

            Assert.True(enforced.Hosts[0].IsEjected);
            Assert.Equal(1, enforced.Stats.OutlierEjectionsEnforcedConsecutiveGatewayFailure);
            // A 500 is a 5xx but not a gateway error: it breaks a run of gateway failures.
            for (var i = 0; i < 4; i++)
            {
                enforced.Outlier!.ReportStatus(enforced.Hosts[1], 503);
            }

            enforced.Outlier!.ReportStatus(enforced.Hosts[1], 500);
            enforced.Outlier!.ReportStatus(enforced.Hosts[1], 503);
            Assert.False(enforced.Hosts[1].IsEjected);
        }
    }

    [Fact]
    public void MaxEjectionPercent_DefaultTenPercent_ThreeHostsNeverEject()
    {
        // Envoy checks (active + 1) / hosts <= max_ejection_percent: 1/3 = 33 % > 10 %.
        var (cluster, _) = Cluster(hosts: 3, new OutlierDetectionConfig());
        using var __ = cluster;

        for (var i = 0; i < 5; i++)
        {
            cluster.Outlier!.ReportStatus(cluster.Hosts[0], 500);
        }

        Assert.False(cluster.Hosts[0].IsEjected);
        Assert.Equal(1, cluster.Stats.OutlierEjectionsOverflow);
        Assert.Equal(0, cluster.Stats.OutlierEjectionsTotal);
    }

    [Fact]
    public void MaxEjectionPercent_Fifty_SecondOfFourHostsEjected_ThirdRefused()
    {
        var (cluster, _) = Cluster(hosts: 4, new OutlierDetectionConfig { MaxEjectionPercent = 50 });
        using var __ = cluster;

        foreach (var host in cluster.Hosts)
        {
            for (var i = 0; i < 5; i++)
            {
                cluster.Outlier!.ReportStatus(host, 500);
            }
        }

        Assert.Equal(2, cluster.Stats.OutlierEjectionsActive);
        Assert.Equal(2, cluster.Stats.OutlierEjectionsOverflow);
        // Two of four ejected is 50 % healthy: not below the 50 % panic threshold, so the other two take the load.
        for (var i = 0; i < 50; i++)
        {
            Assert.False(cluster.Balancer.Pick(0, null, 0)!.IsEjected);
        }
    }

    [Fact]
    public void EjectionTime_GrowsWithRepeatedEjection_CappedAtMax()
    {
        var config = new OutlierDetectionConfig
        {
            Interval = TimeSpan.FromSeconds(1),
            BaseEjectionTime = TimeSpan.FromSeconds(10),
            MaxEjectionTime = TimeSpan.FromSeconds(25),
            MaxEjectionPercent = 100,
        };
        var (cluster, time) = Cluster(hosts: 2, config);
        using var __ = cluster;
        var host = cluster.Hosts[0];

        // First ejection: 10 s.
        Eject(cluster, host);
        Assert.Equal(10, SecondsUntilUnejected(time, host));

        // Ejected again right away (before an interval passes): backoff 2, 20 s.
        Eject(cluster, host);
        Assert.Equal(20, SecondsUntilUnejected(time, host));

        // Backoff 3 would be 30 s; capped at max_ejection_time 25 s.
        Eject(cluster, host);
        Assert.Equal(25, SecondsUntilUnejected(time, host));
        Assert.Equal(3, host.Outlier!.NumEjections);

        // Healthy for a while: the backoff goes back down one step per interval, so the next ejection is 10 s again.
        time.Advance(TimeSpan.FromSeconds(10));
        Eject(cluster, host);
        Assert.Equal(10, SecondsUntilUnejected(time, host));
    }

    [Fact]
    public void Enforcing_Zero_DetectsWithoutEjecting()
    {
        var (cluster, _) = Cluster(hosts: 10, new OutlierDetectionConfig { EnforcingConsecutive5xx = 0 });
        using var __ = cluster;

        for (var i = 0; i < 5; i++)
        {
            cluster.Outlier!.ReportStatus(cluster.Hosts[0], 500);
        }

        Assert.False(cluster.Hosts[0].IsEjected);
        Assert.Equal(1, cluster.Stats.OutlierEjectionsDetectedConsecutive5xx);
        Assert.Equal(1, cluster.Stats.OutlierEjectionsTotal);
        Assert.Equal(0, cluster.Stats.OutlierEjectionsEnforcedTotal);
    }

    [Fact]
    public void AllHostsEjected_PanicBalancesOverAll()
    {
        var (cluster, _) = Cluster(hosts: 2, new OutlierDetectionConfig { MaxEjectionPercent = 100 });
        using var __ = cluster;

        Eject(cluster, cluster.Hosts[0]);
        Eject(cluster, cluster.Hosts[1]);

        Assert.NotNull(cluster.Balancer.Pick(0, null, 0));
        Assert.True(cluster.Balancer.Load.Panic[0]);
    }

    [Fact]
    public void SuccessRate_EnvoysWorkedExample_50Of100_Ejected()
    {
        // Envoy's comment in successRateEjectionThreshold: rates {50, 100, 100, 100, 100} give mean 90, stdev 20,
        // threshold 90 - 1.9 * 20 = 52; the host at 50 % is an outlier.
        var (cluster, time) = Cluster(hosts: 5, new OutlierDetectionConfig { MaxEjectionPercent = 20 });
        using var __ = cluster;
        Report(cluster, cluster.Hosts[0], successes: 50, failures: 50);
        for (var i = 1; i < 5; i++)
        {
            Report(cluster, cluster.Hosts[i], successes: 100, failures: 0);
        }

        Assert.False(cluster.Hosts[0].IsEjected);
        time.Advance(TimeSpan.FromSeconds(10));

        Assert.True(cluster.Hosts[0].IsEjected);
        Assert.Equal(90, cluster.Outlier!.SuccessRateMean, 6);
        Assert.Equal(52, cluster.Outlier!.SuccessRateEjectionThreshold, 6);
        Assert.Equal(50, cluster.Hosts[0].Outlier!.SuccessRate, 6);
        Assert.Equal(1, cluster.Stats.OutlierEjectionsEnforcedSuccessRate);
        Assert.Equal(0, cluster.Stats.OutlierEjectionsDetectedConsecutive5xx);
    }

    [Fact]
    public void SuccessRate_TooLittleVolume_NoDetection()
    {
        var (cluster, time) = Cluster(hosts: 5, new OutlierDetectionConfig { MaxEjectionPercent = 20 });
        using var __ = cluster;
        Report(cluster, cluster.Hosts[0], successes: 49, failures: 50);
        for (var i = 1; i < 5; i++)
        {
            Report(cluster, cluster.Hosts[i], successes: 100, failures: 0);
        }

        time.Advance(TimeSpan.FromSeconds(10));

        // 99 requests is under success_rate_request_volume (100): four hosts qualify, fewer than the minimum of five.
        Assert.False(cluster.Hosts[0].IsEjected);
        Assert.Equal(-1, cluster.Outlier!.SuccessRateMean);
        Assert.Equal(0, cluster.Stats.OutlierEjectionsDetectedSuccessRate);
    }

    [Fact]
    public void FailurePercentage_EnforcedWhenConfigured()
    {
        // consecutive_5xx raised: at 50 failures in 60 requests runs of five 5xx cannot be avoided.
        var config = new OutlierDetectionConfig { MaxEjectionPercent = 20, EnforcingSuccessRate = 0, EnforcingFailurePercentage = 100, Consecutive5xx = 1000 };
        var (cluster, time) = Cluster(hosts: 5, config);
        using var __ = cluster;
        Report(cluster, cluster.Hosts[0], successes: 10, failures: 50);
        for (var i = 1; i < 5; i++)
        {
            Report(cluster, cluster.Hosts[i], successes: 60, failures: 0);
        }

        time.Advance(TimeSpan.FromSeconds(10));

        // 50 failures of 60 is 83 %: under the 85 % threshold.
        Assert.False(cluster.Hosts[0].IsEjected);
        Report(cluster, cluster.Hosts[0], successes: 5, failures: 55);
        for (var i = 1; i < 5; i++)
        {
            Report(cluster, cluster.Hosts[i], successes: 60, failures: 0);
        }

        time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(cluster.Hosts[0].IsEjected);
        Assert.Equal(1, cluster.Stats.OutlierEjectionsEnforcedFailurePercentage);
        Assert.Equal(0, cluster.Stats.OutlierEjectionsEnforcedSuccessRate);
    }

    [Fact]
    public void MembershipUpdate_NewState_KeepsEjectionsOfRemainingHosts_AndSharesBreakers()
    {
        var (old, time) = Cluster(hosts: 4, new OutlierDetectionConfig { MaxEjectionPercent = 50 });
        using var __ = old;
        Eject(old, old.Hosts[1]);
        Assert.True(old.Resources.TryAcquireRequest());

        // An EDS update: hosts 0-2 stay (new HostState objects), host 3 leaves, a new host 9 arrives.
        var hosts = new List<HostState>();
        foreach (var port in new[] { 9000, 9001, 9002, 9009 })
        {
            hosts.Add(new HostState(new EndpointConfig { Address = "127.0.0.1", Port = port }, new IPEndPoint(IPAddress.Loopback, port)));
        }

        using var updated = new ClusterState(old.Config, hosts, workers: 1, fingerprint: "v2", time, static action => action(), previous: old);

        Assert.True(hosts[1].IsEjected);
        Assert.Equal(1, hosts[1].Outlier!.NumEjections);
        Assert.Equal(1, updated.Stats.OutlierEjectionsActive);
        for (var i = 0; i < 50; i++)
        {
            Assert.NotSame(hosts[1], updated.Balancer.Pick(0, null, 0));
        }

        // Same circuit-breaker limits: the request in flight on the old state still counts.
        Assert.Same(old.Resources, updated.Resources);
        Assert.Equal(1, updated.Resources.ActiveRequests);

        // The new state's timer unejects the carried host when its ejection time is over.
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.False(hosts[1].IsEjected);
        Assert.Equal(0, updated.Stats.OutlierEjectionsActive);
    }

    [Theory]
    [InlineData(200, null, 200)]
    [InlineData(200, "14", 503)]
    [InlineData(200, "4", 504)]
    [InlineData(200, "13", 500)]
    [InlineData(200, "5", 404)]
    [InlineData(503, "0", 200)]
    [InlineData(502, null, 502)]
    public void Grpc_HeadersGrpcStatus_MappedAsEnvoyDoes(int httpStatus, string? grpcStatus, int expected)
    {
        using var response = new HttpResponseMessage((HttpStatusCode)httpStatus);
        if (grpcStatus is not null)
        {
            response.Headers.TryAddWithoutValidation("grpc-status", grpcStatus);
        }

        Assert.Equal(expected, OutlierDetector.GrpcAwareStatus(response.Headers, httpStatus));
    }

    /// <summary>Spreads the 5xx evenly among the successes (at 50/50 no two in a row, so no consecutive-error detection).</summary>
    private static void Report(ClusterState cluster, HostState host, int successes, int failures)
    {
        var total = successes + failures;
        var failed = 0;
        for (var i = 0; i < total; i++)
        {
            var fail = (long)(i + 1) * failures / total > failed;
            cluster.Outlier!.ReportStatus(host, fail ? 500 : 200);
            failed += fail ? 1 : 0;
        }
    }

    private static void Eject(ClusterState cluster, HostState host)
    {
        for (var i = 0; i < 5; i++)
        {
            cluster.Outlier!.ReportStatus(host, 500);
        }

        Assert.True(host.IsEjected);
    }

    private static int SecondsUntilUnejected(FakeTimeProvider time, HostState host)
    {
        for (var seconds = 1; seconds <= 400; seconds++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            if (!host.IsEjected)
            {
                return seconds;
            }
        }

        return -1;
    }

    private static (ClusterState Cluster, FakeTimeProvider Time) Cluster(int hosts, OutlierDetectionConfig outlier)
    {
        var time = new FakeTimeProvider();
        var states = new List<HostState>();
        for (var i = 0; i < hosts; i++)
        {
            states.Add(new HostState(new EndpointConfig { Address = "127.0.0.1", Port = 9000 + i }, new IPEndPoint(IPAddress.Loopback, 9000 + i)));
        }

        var config = new ClusterConfig { Name = "c", LbPolicy = LbPolicyKind.RoundRobin, OutlierDetection = outlier };
        var cluster = new ClusterState(config, states, workers: 1, fingerprint: "", time, outlierDispatch: static action => action());
        return (cluster, time);
    }
}

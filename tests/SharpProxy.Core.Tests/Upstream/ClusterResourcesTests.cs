using System.Net;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.Tests.Upstream;

public sealed class ClusterResourcesTests
{
    [Fact]
    public void Defaults_AreEnvoys()
    {
        var limits = CircuitBreakerThresholds.Default;

        Assert.Equal(1024, limits.MaxConnections);
        Assert.Equal(1024, limits.MaxPendingRequests);
        Assert.Equal(1024, limits.MaxRequests);
        Assert.Equal(3, limits.MaxRetries);
    }

    [Fact]
    public void Requests_LimitHeld_ReleaseFreesSlot()
    {
        var resources = new ClusterResources(new CircuitBreakerThresholds { MaxRequests = 2 });

        Assert.True(resources.TryAcquireRequest());
        Assert.True(resources.TryAcquireRequest());
        Assert.False(resources.TryAcquireRequest());
        Assert.Equal(2, resources.ActiveRequests);
        resources.ReleaseRequest();
        Assert.True(resources.TryAcquireRequest());
    }

    [Fact]
    public void Retries_DefaultThree_FourthRefusedAndCounted()
    {
        using var cluster = new ClusterState(
            new ClusterConfig { Name = "c" },
            [new HostState(new EndpointConfig { Address = "127.0.0.1", Port = 9000 }, new IPEndPoint(IPAddress.Loopback, 9000))],
            workers: 1,
            fingerprint: "");

        Assert.True(cluster.TryAcquireRetry());
        Assert.True(cluster.TryAcquireRetry());
        Assert.True(cluster.TryAcquireRetry());
        Assert.False(cluster.TryAcquireRetry());
        Assert.Equal(1, cluster.Stats.RqRetryOverflow);
        cluster.ReleaseRetry();
        Assert.True(cluster.TryAcquireRetry());
    }

    [Fact]
    public async Task Connections_WaitForSlot_UntilAnotherCloses()
    {
        var resources = new ClusterResources(new CircuitBreakerThresholds { MaxConnections = 1 });

        Assert.True(resources.TryAcquireConnection());
        Assert.False(resources.TryAcquireConnection());
        var waiting = resources.WaitForConnectionAsync(CancellationToken.None).AsTask();
        Assert.False(waiting.IsCompleted);
        resources.ReleaseConnection(heldSlot: true);
        await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, resources.ActiveConnections);
    }
}

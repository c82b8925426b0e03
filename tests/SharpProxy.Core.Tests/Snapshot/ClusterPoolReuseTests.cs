using SharpProxy.Core.Configuration;
using SharpProxy.Core.Snapshot;

namespace SharpProxy.Core.Tests.Snapshot;

/// <summary>
/// An EDS update changes a cluster's endpoints only: the new cluster state takes over the old one's per-worker pools
/// (and so the open connections to hosts that remain), as Envoy keeps a cluster's connection pools across membership
/// updates. Any other change builds new pools.
/// </summary>
public sealed class ClusterPoolReuseTests
{
    private readonly SnapshotCompiler _compiler = new(2);

    [Fact]
    public async Task EndpointAdded_NewStateAdoptsThePools_RetiringTheOldKeepsThemOpen()
    {
        var first = _compiler.Compile(Config(Cluster(9001)), previous: null);
        var oldState = first.FindCluster("reviews")!;
        var pool = oldState.GetPool(1);

        var second = _compiler.Compile(Config(Cluster(9001, 9002)), first);
        var newState = second.FindCluster("reviews")!;

        Assert.NotSame(oldState, newState);
        Assert.Same(pool, newState.GetPool(1));
        Assert.Same(newState, pool.Owner);
        Assert.Same(pool, oldState.GetPool(1)); // requests in flight on the old snapshot keep the same pool

        SnapshotCompiler.RetireUnused(first, second);
        Assert.Same(newState, pool.Owner);

        // Still usable: a disposed invoker would throw ObjectDisposedException, not see the cancellation.
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:1/");
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pool.Invoker.SendAsync(request, new CancellationToken(canceled: true)));
    }

    [Fact]
    public void ConnectTimeoutChanged_NewPools()
    {
        var first = _compiler.Compile(Config(Cluster(9001)), previous: null);
        var pool = first.FindCluster("reviews")!.GetPool(0);

        var second = _compiler.Compile(Config(Cluster(9001) with { ConnectTimeout = TimeSpan.FromSeconds(3) }), first);

        Assert.NotSame(pool, second.FindCluster("reviews")!.GetPool(0));
    }

    [Fact]
    public void AdoptingStateDropped_PoolsGoBackToThePreviousState()
    {
        var first = _compiler.Compile(Config(Cluster(9001)), previous: null);
        var oldState = first.FindCluster("reviews")!;
        var pool = oldState.GetPool(0);
        var second = _compiler.Compile(Config(Cluster(9001, 9002)), first);

        // A refused update is rolled back: the new snapshot's clusters are retired, the old ones serve again.
        SnapshotCompiler.RetireUnused(second, first);

        Assert.Same(oldState, pool.Owner);
        Assert.Same(pool, oldState.GetPool(0));
    }

    [Fact]
    public void EqualConfigInANewObject_SameStateKept()
    {
        var first = _compiler.Compile(Config(Cluster(9001)), previous: null);
        var second = _compiler.Compile(Config(Cluster(9001)), first);

        Assert.Same(first.FindCluster("reviews"), second.FindCluster("reviews"));
    }

    [Fact]
    public void FirstCompile_TakesNoFingerprint_ALaterCompileComparesAllTheSame()
    {
        // Start-up compiles have nothing to compare with, so they skip the serialization; the next compile fills the
        // old state's fingerprints in and still tells a changed cluster from an unchanged one.
        var first = _compiler.Compile(new ProxyConfig { Clusters = [Cluster(9001), Cluster(9101) with { Name = "ratings" }] }, previous: null);
        var reviews = first.FindCluster("reviews")!;
        var ratings = first.FindCluster("ratings")!;
        Assert.Null(reviews.Fingerprint);
        Assert.Null(reviews.PoolFingerprint);
        var ratingsPool = ratings.GetPool(0);

        var second = _compiler.Compile(new ProxyConfig { Clusters = [Cluster(9001), Cluster(9101, 9102) with { Name = "ratings" }] }, first);

        Assert.Same(reviews, second.FindCluster("reviews"));
        Assert.NotNull(reviews.Fingerprint);
        var newRatings = second.FindCluster("ratings")!;
        Assert.NotSame(ratings, newRatings);
        Assert.Same(ratingsPool, newRatings.GetPool(0));
        Assert.NotNull(newRatings.Fingerprint);
        Assert.NotEqual(ratings.Fingerprint, newRatings.Fingerprint);
        Assert.Equal(ratings.PoolFingerprint, newRatings.PoolFingerprint);
    }

    [Fact]
    public void WorkerCountChanged_NewState()
    {
        var first = _compiler.Compile(Config(Cluster(9001)), previous: null);
        var second = new SnapshotCompiler(3).Compile(Config(Cluster(9001)), first);

        Assert.NotSame(first.FindCluster("reviews"), second.FindCluster("reviews"));
        Assert.Equal(3, second.FindCluster("reviews")!.Workers);
    }

    private static ProxyConfig Config(ClusterConfig cluster) => new() { Clusters = [cluster] };

    private static ClusterConfig Cluster(params int[] ports) => new()
    {
        Name = "reviews",
        Type = ClusterDiscoveryType.Static,
        Endpoints = [.. ports.Select(p => new EndpointConfig { Address = "127.0.0.1", Port = p })],
    };
}

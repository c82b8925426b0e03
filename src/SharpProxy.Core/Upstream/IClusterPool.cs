namespace SharpProxy.Core.Upstream;

/// <summary>A per-worker connection pool of a cluster, which a newer state of the same cluster can take over.</summary>
internal interface IClusterPool : IDisposable
{
    /// <summary>The cluster state that owns (and will dispose) this pool.</summary>
    ClusterState Owner { get; }

    /// <summary>Hands the pool, with its open connections, to <paramref name="owner"/> (a newer state of the same cluster).</summary>
    void Adopt(ClusterState owner);
}

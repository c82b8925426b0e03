namespace SharpProxy.Core.Snapshot;

/// <summary>The one mutable reference to the active snapshot: published with a single atomic swap per config change.</summary>
internal sealed class SnapshotHolder(ProxySnapshot initial)
{
    private ProxySnapshot _current = initial;

    public ProxySnapshot Current => Volatile.Read(ref _current);

    /// <returns>The snapshot that was replaced.</returns>
    public ProxySnapshot Swap(ProxySnapshot next) => Interlocked.Exchange(ref _current, next);
}

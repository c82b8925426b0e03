using SharpProxy.Cli;
using SharpProxy.Core.Listeners;
using SharpProxy.Core.Snapshot;
using SharpProxy.Xds.Bootstrap;

namespace SharpProxy.Hosting;

/// <summary>What the admin API reads: the live snapshot, the bound listeners and the loaded bootstrap.</summary>
internal sealed class ServerState(SnapshotHolder snapshots, ListenerManager listeners, LoadedBootstrap bootstrap, ProxyOptions options)
{
    private volatile bool _ready;
    private volatile bool _draining;

    public SnapshotHolder Snapshots { get; } = snapshots;

    public ListenerManager Listeners { get; } = listeners;

    public LoadedBootstrap Bootstrap { get; } = bootstrap;

    public ProxyOptions Options { get; } = options;

    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;

    /// <summary>The ADS client when the bootstrap has dynamic_resources.</summary>
    public Xds.Ads.AdsClient? Xds { get; set; }

    public bool Ready
    {
        get => _ready;
        set => _ready = value;
    }

    public bool Draining
    {
        get => _draining;
        set => _draining = value;
    }
}

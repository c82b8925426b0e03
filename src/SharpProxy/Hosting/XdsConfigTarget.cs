using Microsoft.Extensions.Logging;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Listeners;
using SharpProxy.Core.Snapshot;
using SharpProxy.Xds.Ads;

namespace SharpProxy.Hosting;

/// <summary>
/// Applies configuration from xDS: compile (reusing unchanged clusters and their pools), swap the snapshot atomically,
/// then bind and unbind listeners. Requests in flight keep the snapshot they started with; clusters that left are
/// disposed only once their last request finished (or the drain time passed).
/// </summary>
internal sealed partial class XdsConfigTarget(SnapshotCompiler compiler, SnapshotHolder holder, ListenerManager listeners, TimeSpan drainTime, ILogger logger) : IXdsConfigTarget
{
    private readonly Lock _gate = new();

    public string? Apply(ProxyConfig config)
    {
        lock (_gate)
        {
            var previous = holder.Current;
            ProxySnapshot next;
            try
            {
                next = compiler.Compile(config, previous);
            }
            catch (ConfigException ex)
            {
                return string.Join("; ", ex.Errors);
            }

            holder.Swap(next);
            try
            {
                listeners.Apply(next);
            }
            catch (InvalidOperationException ex)
            {
                // A listener could not bind: put the old snapshot and its listeners back, and refuse the update.
                holder.Swap(previous);
                try
                {
                    listeners.Apply(previous);
                }
                catch (InvalidOperationException restoreFailure)
                {
                    // The old listeners' sockets could not all be bound again (a port taken meanwhile): say so in the NACK.
                    RetireWhenIdle(next, previous);
                    return ex.Message + "; restoring the previous listeners also failed: " + restoreFailure.Message;
                }

                RetireWhenIdle(next, previous);
                return ex.Message;
            }

            RetireWhenIdle(previous, next);
            return null;
        }
    }

    private void RetireWhenIdle(ProxySnapshot old, ProxySnapshot current)
    {
        List<Core.Upstream.ClusterState>? retired = null;
        foreach (var cluster in old.Clusters)
        {
            if (current.FindCluster(cluster.Name) != cluster)
            {
                (retired ??= []).Add(cluster);
            }
        }

        if (retired is null)
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            var deadline = DateTime.UtcNow + drainTime;
            foreach (var cluster in retired)
            {
                while (cluster.Stats.RqActive > 0 && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(250)).ConfigureAwait(false);
                }

                cluster.Dispose();
            }

            Log.Retired(logger, retired.Count);
        });
    }

    private static partial class Log
    {
        [LoggerMessage(6100, LogLevel.Debug, "xDS: {Count} replaced clusters retired after their requests finished")]
        public static partial void Retired(ILogger logger, int count);
    }
}

using System.Diagnostics;

namespace SharpProxy.Core.Diagnostics;

/// <summary>
/// Start-up phase timings on stderr, when SHARPPROXY_STARTUP_TRACE=1: milliseconds since the process started (from
/// /proc/self/stat) at each mark, to see where the time to /ready goes. Off, a mark is one static bool test.
/// </summary>
internal static class StartupTrace
{
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("SHARPPROXY_STARTUP_TRACE") == "1";

    private static readonly long ProcessStartTicks = Enabled ? ReadProcessStartTicks() : 0;

    public static void Mark(string phase)
    {
        if (Enabled)
        {
            Write(phase);
        }
    }

    /// <summary>A mark right after a collection: also the heap it left, per generation (gen0, gen1, gen2, large, pinned).</summary>
    public static void MarkCollected(string phase)
    {
        if (Enabled)
        {
            var info = GC.GetGCMemoryInfo();
            var generations = info.GenerationInfo;
            var sizes = new System.Text.StringBuilder();
            for (var generation = 0; generation < generations.Length; generation++)
            {
                sizes.Append(generation == 0 ? "" : "/").Append(generations[generation].SizeAfterBytes / 1024);
            }

            Write($"{phase}: heap {info.HeapSizeBytes / 1024} KiB (gen0/1/2/large/pinned {sizes} KiB), committed {info.TotalCommittedBytes / 1024} KiB");
        }
    }

    private static void Write(string phase)
    {
        var now = DateTime.UtcNow.Ticks;
        var sinceStartMs = (now - ProcessStartTicks) / (double)TimeSpan.TicksPerMillisecond;
        var unixMs = (now - DateTime.UnixEpoch.Ticks) / (double)TimeSpan.TicksPerMillisecond;
        // Bytes allocated so far and collections run: where start-up's garbage comes from (it is most of the idle heap).
        var allocatedKb = GC.GetTotalAllocatedBytes(precise: false) / 1024;
        Console.Error.WriteLine($"startup: {sinceStartMs,7:F1} ms since start (unix {unixMs:F1})  {allocatedKb,6} KiB allocated, {GC.CollectionCount(0)} GCs  {phase}");
    }

    private static long ReadProcessStartTicks()
    {
        // Process.StartTime reads /proc/self/stat and the boot time; good to the clock tick (10 ms), so the first
        // mark also states the runtime's own time since the host started it.
        return Process.GetCurrentProcess().StartTime.ToUniversalTime().Ticks;
    }
}

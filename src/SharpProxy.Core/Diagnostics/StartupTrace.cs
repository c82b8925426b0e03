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

    private static void Write(string phase)
    {
        var now = DateTime.UtcNow.Ticks;
        var sinceStartMs = (now - ProcessStartTicks) / (double)TimeSpan.TicksPerMillisecond;
        var unixMs = (now - DateTime.UnixEpoch.Ticks) / (double)TimeSpan.TicksPerMillisecond;
        Console.Error.WriteLine($"startup: {sinceStartMs,7:F1} ms since start (unix {unixMs:F1})  {phase}");
    }

    private static long ReadProcessStartTicks()
    {
        // Process.StartTime reads /proc/self/stat and the boot time; good to the clock tick (10 ms), so the first
        // mark also states the runtime's own time since the host started it.
        return Process.GetCurrentProcess().StartTime.ToUniversalTime().Ticks;
    }
}

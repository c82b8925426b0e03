using System.Globalization;

namespace SharpProxy.IntegrationTests;

/// <summary>Which path this test assembly's proxies take: the fast path, unless SHARPPROXY_HTTP1_FAST_PATH=0 (KestrelPath).</summary>
internal static class PathUnderTest
{
    public static bool FastPath =>
        !string.Equals(Environment.GetEnvironmentVariable("SHARPPROXY_HTTP1_FAST_PATH"), "0", StringComparison.Ordinal);
}

/// <summary>Reads one counter or gauge from the admin API's /stats text.</summary>
internal static class StatsText
{
    public static long Value(string stats, string name)
    {
        foreach (var line in stats.Split('\n'))
        {
            if (line.StartsWith(name + ": ", StringComparison.Ordinal))
            {
                return long.Parse(line[(name.Length + 2)..].Trim(), NumberStyles.None, CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"stat {name} not found in /stats");
    }
}

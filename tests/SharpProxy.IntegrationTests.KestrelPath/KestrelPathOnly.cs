using System.Runtime.CompilerServices;

namespace SharpProxy.IntegrationTests;

/// <summary>Runs before any test of this assembly: every proxy it starts serves HTTP/1.1 through Kestrel.</summary>
internal static class KestrelPathOnly
{
    public const string Variable = "SHARPPROXY_HTTP1_FAST_PATH";

    [ModuleInitializer]
    internal static void DisableFastPath() => Environment.SetEnvironmentVariable(Variable, "0");
}

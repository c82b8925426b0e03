using BenchmarkDotNet.Running;

namespace SharpProxy.Benchmarks;

internal static class Program
{
    private static void Main(string[] args)
    {
        // As the proxy runs (its Program sets the same): socket completions on the event-loop thread. The benchmark
        // processes BenchmarkDotNet starts inherit it.
        if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
        {
            Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}

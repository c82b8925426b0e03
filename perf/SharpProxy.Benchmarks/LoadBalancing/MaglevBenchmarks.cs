using BenchmarkDotNet.Attributes;
using SharpProxy.Core.LoadBalancing;

namespace SharpProxy.Benchmarks.LoadBalancing;

/// <summary>Maglev pick (per request) and build (per host-set change) with the default 65537-slot table.</summary>
[MemoryDiagnoser]
public class MaglevBenchmarks
{
    private const int HashesPerInvoke = 4096;

    private ulong[] _hashes = [];
    private MaglevTable _table = null!;
    private HashHost[] _hosts = [];

    [Params(100, 1000)]
    public int HostCount { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _hosts = RingHashBenchmarks.Hosts(HostCount);
        _table = new MaglevTable(_hosts);
        _hashes = RingHashBenchmarks.RandomHashes(HashesPerInvoke);
    }

    [Benchmark(OperationsPerInvoke = HashesPerInvoke)]
    public int MaglevPick()
    {
        int sink = 0;
        foreach (ulong hash in _hashes)
        {
            sink += _table.Pick(hash);
        }

        return sink;
    }

    [Benchmark]
    public ulong MaglevBuild() => new MaglevTable(_hosts).MaxEntriesPerHost;
}

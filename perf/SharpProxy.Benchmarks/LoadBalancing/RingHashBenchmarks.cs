using BenchmarkDotNet.Attributes;
using SharpProxy.Core.LoadBalancing;

namespace SharpProxy.Benchmarks.LoadBalancing;

/// <summary>Ring hash pick (per request) and build (per host-set change) with Envoy's default ring sizes.</summary>
[MemoryDiagnoser]
public class RingHashBenchmarks
{
    // Many distinct hashes per invocation so the binary search sees unpredictable branches and cold-ish
    // cache lines, as it would with real request hashes, rather than one hash hot in L1.
    private const int HashesPerInvoke = 4096;

    private ulong[] _hashes = [];
    private RingHashTable _ring = null!;
    private HashHost[] _hosts = [];

    [Params(100, 1000)]
    public int HostCount { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _hosts = Hosts(HostCount);
        _ring = new RingHashTable(_hosts);
        _hashes = RandomHashes(HashesPerInvoke);
    }

    [Benchmark(OperationsPerInvoke = HashesPerInvoke)]
    public int RingPick()
    {
        int sink = 0;
        foreach (ulong hash in _hashes)
        {
            sink += _ring.Pick(hash);
        }

        return sink;
    }

    [Benchmark]
    public int RingBuild() => new RingHashTable(_hosts).RingSize;

    internal static HashHost[] Hosts(int count)
    {
        var hosts = new HashHost[count];
        for (int i = 0; i < count; i++)
        {
            hosts[i] = new HashHost($"10.{i / 65536}.{i / 256 % 256}.{i % 256}:8080", 1);
        }

        return hosts;
    }

    internal static ulong[] RandomHashes(int count)
    {
        var random = new Random(42);
        var hashes = new ulong[count];
        for (int i = 0; i < count; i++)
        {
            hashes[i] = (ulong)random.NextInt64() ^ ((ulong)random.Next(2) << 63);
        }

        return hashes;
    }
}

using System.Net;
using BenchmarkDotNet.Attributes;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.LoadBalancing;
using SharpProxy.Core.Upstream;

namespace SharpProxy.Benchmarks.LoadBalancing;

/// <summary>
/// A whole cluster pick as the pipeline makes it (<c>ClusterState.Balancer.Pick</c>): one volatile read of the current
/// balancer, then either the direct path (one level takes all the load) or Envoy's priority choice (load spilling to
/// P1 because half of P0 is ejected). Also the rebuild that an ejection or unejection costs.
/// </summary>
[MemoryDiagnoser]
public class ClusterPickBenchmarks
{
    private const int PicksPerInvoke = 4096;

    private ClusterState _direct = null!;
    private ClusterState _spill = null!;
    private ClusterState _ring = null!;
    private ulong[] _hashes = [];

    [GlobalSetup]
    public void Setup()
    {
        _direct = Cluster(LbPolicyKind.RoundRobin, ejectHalfOfP0: false);
        _spill = Cluster(LbPolicyKind.RoundRobin, ejectHalfOfP0: true);
        _ring = Cluster(LbPolicyKind.RingHash, ejectHalfOfP0: false);
        _hashes = RingHashBenchmarks.RandomHashes(PicksPerInvoke);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _direct.Dispose();
        _spill.Dispose();
        _ring.Dispose();
    }

    [Benchmark(OperationsPerInvoke = PicksPerInvoke)]
    public int RoundRobinDirect()
    {
        var sink = 0;
        for (var i = 0; i < PicksPerInvoke; i++)
        {
            sink += _direct.Balancer.Pick(0, null, 0)!.EndPoint.Port;
        }

        return sink;
    }

    [Benchmark(OperationsPerInvoke = PicksPerInvoke)]
    public int RoundRobinPrioritySpill()
    {
        var sink = 0;
        for (var i = 0; i < PicksPerInvoke; i++)
        {
            sink += _spill.Balancer.Pick(0, null, 0)!.EndPoint.Port;
        }

        return sink;
    }

    [Benchmark(OperationsPerInvoke = PicksPerInvoke)]
    public int RingHashDirect()
    {
        var sink = 0;
        foreach (var hash in _hashes)
        {
            sink += _ring.Balancer.Pick(0, hash, 0)!.EndPoint.Port;
        }

        return sink;
    }

    [Benchmark]
    public void RingHashRebuild() => _ring.RebuildBalancer();

    private static ClusterState Cluster(LbPolicyKind policy, bool ejectHalfOfP0)
    {
        var hosts = new List<HostState>();
        for (var i = 0; i < 20; i++)
        {
            var port = 9000 + i;
            hosts.Add(new HostState(new EndpointConfig { Address = "127.0.0.1", Port = port, Priority = i < 10 ? 0 : 1 }, new IPEndPoint(IPAddress.Loopback, port)));
        }

        if (ejectHalfOfP0)
        {
            for (var i = 0; i < 5; i++)
            {
                hosts[i].SetEjected(true);
            }
        }

        return new ClusterState(new ClusterConfig { Name = "bench", LbPolicy = policy }, hosts, workers: 1, fingerprint: "");
    }
}

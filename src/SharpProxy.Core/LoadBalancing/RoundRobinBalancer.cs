using SharpProxy.Core.Upstream;

namespace SharpProxy.Core.LoadBalancing;

/// <summary>
/// Weighted round robin. The smooth weighted sequence (nginx's algorithm: no host gets a burst of consecutive picks)
/// is computed once when the host set changes; each pick is one interlocked increment on the worker's own cursor.
/// Workers start at different offsets, as Envoy's per-worker balancers do.
/// </summary>
internal sealed class RoundRobinBalancer : LoadBalancer
{
    private const int MaxSequenceLength = 1 << 16;

    private readonly HostState[] _sequence;
    private readonly PaddedCounter[] _cursors;

    public RoundRobinBalancer(IReadOnlyList<HostState> hosts, int workers)
    {
        _sequence = BuildSequence([.. hosts]);
        _cursors = new PaddedCounter[Math.Max(1, workers)];
        for (var i = 0; i < _cursors.Length; i++)
        {
            _cursors[i].Value = _sequence.Length == 0 ? 0 : (i * _sequence.Length / _cursors.Length) - 1;
        }
    }

    public int SequenceLength => _sequence.Length;

    public override HostState? Pick(int worker, ulong? hash, int attempt)
    {
        var sequence = _sequence;
        if (sequence.Length == 0)
        {
            return null;
        }

        ref var cursor = ref _cursors[(uint)worker < (uint)_cursors.Length ? worker : 0].Value;
        var next = Interlocked.Increment(ref cursor);
        return sequence[(int)((uint)next % (uint)sequence.Length)];
    }

    internal static HostState[] BuildSequence(HostState[] hosts)
    {
        if (hosts.Length == 0)
        {
            return [];
        }

        long total = 0;
        var allEqual = true;
        foreach (var host in hosts)
        {
            total += Math.Max(1u, host.Weight);
            allEqual &= host.Weight == hosts[0].Weight;
        }

        if (allEqual || hosts.Length == 1)
        {
            return [.. hosts];
        }

        // Scale weights down when their sum is huge; ratios are kept to within rounding.
        var weights = new long[hosts.Length];
        var scale = total > MaxSequenceLength ? (double)MaxSequenceLength / total : 1.0;
        total = 0;
        for (var i = 0; i < hosts.Length; i++)
        {
            weights[i] = Math.Max(1, (long)(Math.Max(1u, hosts[i].Weight) * scale));
            total += weights[i];
        }

        var sequence = new HostState[total];
        var current = new long[hosts.Length];
        for (var n = 0; n < sequence.Length; n++)
        {
            var best = 0;
            for (var i = 0; i < hosts.Length; i++)
            {
                current[i] += weights[i];
                if (current[i] > current[best])
                {
                    best = i;
                }
            }

            current[best] -= total;
            sequence[n] = hosts[best];
        }

        return sequence;
    }

    private struct PaddedCounter
    {
        public int Value;
#pragma warning disable CS0169, IDE0051 // padding against false sharing between workers' cursors
        private readonly long _pad1, _pad2, _pad3, _pad4, _pad5, _pad6, _pad7;
#pragma warning restore CS0169, IDE0051
    }
}

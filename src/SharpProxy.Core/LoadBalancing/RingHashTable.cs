using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using SharpProxy.Core.Hashing;

namespace SharpProxy.Core.LoadBalancing;

/// <summary>
/// Hash used to place ring replicas. Values mirror the legacy <c>Cluster.RingHashLbConfig.HashFunction</c>
/// enum (XX_HASH = 0, MURMUR_HASH_2 = 1); the typed RingHash proto's DEFAULT_HASH maps to <see cref="XxHash"/>.
/// </summary>
internal enum RingHashFunction
{
    /// <summary><c>xxh64(replicaKey, 0)</c>; Envoy's default.</summary>
    XxHash = 0,

    /// <summary><c>murmurHash2(replicaKey, 0xc70f6907)</c>, for rings compatible with std::hash-based ones.</summary>
    MurmurHash2 = 1,
}

/// <summary>
/// Envoy's ring hash ("ketama") table, built once per host-set change and immutable afterwards, so any
/// number of threads may <see cref="Pick"/> concurrently. Mirrors <c>RingHashLoadBalancer::Ring</c>
/// (source/extensions/load_balancing_policies/ring_hash/ring_hash_lb.cc) including its double arithmetic,
/// so the same hosts, weights and sizes give the same ring points and the same host for every hash.
/// </summary>
/// <remarks>
/// Host order matters (replica counts come from running sums of fractional targets), exactly as in Envoy:
/// pass hosts in the host-set order Envoy would use. The flat <see cref="HashHost"/> constructor treats the
/// list as one locality; locality-weighted callers normalize themselves and use
/// <see cref="FromNormalizedWeights"/>.
/// </remarks>
internal sealed class RingHashTable
{
    /// <summary>Envoy <c>RingHashLoadBalancer::DefaultMinRingSize</c>.</summary>
    public const ulong DefaultMinimumRingSize = 1024;

    /// <summary>Envoy <c>RingHashLoadBalancer::DefaultMaxRingSize</c> (1024 * 1024 * 8).</summary>
    public const ulong DefaultMaximumRingSize = 8 * 1024 * 1024;

    /// <summary>Upper bound the RingHash proto validates both ring sizes against.</summary>
    public const ulong RingSizeLimit = 8 * 1024 * 1024;

    // Points sorted ascending by hash, split into two arrays so the binary search walks a dense ulong[].
    private readonly ulong[] _hashes;
    private readonly int[] _hosts;

    /// <summary>
    /// Builds the ring from a flat host list: weights are normalized as Envoy does without locality weighting
    /// (<c>weight * 1.0 / sum</c> in double).
    /// </summary>
    /// <param name="hosts">Hosts in host-set order; <see cref="Pick"/> returns indices into this span.</param>
    /// <param name="minimumRingSize"><c>minimum_ring_size</c>, 1..8388608.</param>
    /// <param name="maximumRingSize"><c>maximum_ring_size</c>, at most 8388608 and not below the minimum.</param>
    /// <param name="hashFunction">Replica hash.</param>
    /// <exception cref="ArgumentException">A key is empty, a weight is 0, weights sum past uint.MaxValue, or the sizes are inconsistent.</exception>
    public RingHashTable(
        ReadOnlySpan<HashHost> hosts,
        ulong minimumRingSize = DefaultMinimumRingSize,
        ulong maximumRingSize = DefaultMaximumRingSize,
        RingHashFunction hashFunction = RingHashFunction.XxHash)
    {
        ValidateConfig(minimumRingSize, maximumRingSize, hashFunction);

        // normalizeHostWeights (thread_aware_lb_impl.cc): Envoy validates that the sum fits in uint32 first.
        ulong sum = 0;
        for (int i = 0; i < hosts.Length; i++)
        {
            HashHost host = hosts[i];
            ValidateKey(host.Key, i, nameof(hosts));
            if (host.Weight == 0)
            {
                throw new ArgumentException($"Host {i} ('{host.Key}') has weight 0; weights must be at least 1.", nameof(hosts));
            }

            sum += host.Weight;
        }

        if (sum > uint.MaxValue)
        {
            throw new ArgumentException($"The sum of host weights ({sum}) exceeds {uint.MaxValue}.", nameof(hosts));
        }

        var keys = new string[hosts.Length];
        var weights = new double[hosts.Length];
        for (int i = 0; i < hosts.Length; i++)
        {
            keys[i] = hosts[i].Key;

            // Same expression and evaluation order as Envoy: host->weight() * normalized_locality_weight / sum,
            // with normalized_locality_weight = 1.0 for a flat host set.
            weights[i] = hosts[i].Weight * 1.0 / sum;
        }

        (_hashes, _hosts, RingSizeGauge, MinHashesPerHost, MaxHashesPerHost) = Build(keys, weights, minimumRingSize, maximumRingSize, hashFunction);
        HostCount = hosts.Length;
    }

    private RingHashTable(ulong[] hashes, int[] hosts, ulong sizeGauge, ulong minHashes, ulong maxHashes, int hostCount)
    {
        _hashes = hashes;
        _hosts = hosts;
        RingSizeGauge = sizeGauge;
        MinHashesPerHost = minHashes;
        MaxHashesPerHost = maxHashes;
        HostCount = hostCount;
    }

    /// <summary>Number of points actually on the ring (0 when built from no hosts); retries wrap modulo this.</summary>
    public int RingSize => _hashes.Length;

    /// <summary>
    /// What Envoy reports as the <c>ring_hash_lb.size</c> gauge: <c>ceil(scale)</c>, computed before the
    /// points are generated. The running sums can produce one point more than this when the normalized
    /// weights' rounding adds up past 1.0 (Envoy's ring has that extra point too), so it can be
    /// <see cref="RingSize"/> - 1.
    /// </summary>
    public ulong RingSizeGauge { get; }

    /// <summary>Number of hosts the table was built from; <see cref="Pick"/> returns indices below this.</summary>
    public int HostCount { get; }

    /// <summary>Fewest replicas any host got (Envoy gauge <c>ring_hash_lb.min_hashes_per_host</c>); can be 0 for tiny rings.</summary>
    public ulong MinHashesPerHost { get; }

    /// <summary>Most replicas any host got (Envoy gauge <c>ring_hash_lb.max_hashes_per_host</c>).</summary>
    public ulong MaxHashesPerHost { get; }

    /// <summary>
    /// Builds the ring from weights the caller already normalized (Envoy's <c>NormalizedHostWeightVector</c>),
    /// e.g. with locality weighting: <c>host_weight * (locality_weight / Σlocality) / Σhost_weight_in_locality</c>.
    /// Hosts of zero-weight localities must be left out, as Envoy does.
    /// </summary>
    /// <exception cref="ArgumentException">Lengths differ, a key is empty, a weight is not positive and finite, or the sizes are inconsistent.</exception>
    public static RingHashTable FromNormalizedWeights(
        ReadOnlySpan<string> keys,
        ReadOnlySpan<double> normalizedWeights,
        ulong minimumRingSize = DefaultMinimumRingSize,
        ulong maximumRingSize = DefaultMaximumRingSize,
        RingHashFunction hashFunction = RingHashFunction.XxHash)
    {
        ValidateConfig(minimumRingSize, maximumRingSize, hashFunction);
        if (keys.Length != normalizedWeights.Length)
        {
            throw new ArgumentException("keys and normalizedWeights must have the same length.", nameof(normalizedWeights));
        }

        for (int i = 0; i < keys.Length; i++)
        {
            ValidateKey(keys[i], i, nameof(keys));
            double w = normalizedWeights[i];
            if (!(w > 0) || double.IsInfinity(w))
            {
                throw new ArgumentException($"Normalized weight {i} ({w}) must be positive and finite.", nameof(normalizedWeights));
            }
        }

        var (hashes, hosts, gauge, min, max) = Build(keys, normalizedWeights, minimumRingSize, maximumRingSize, hashFunction);
        return new RingHashTable(hashes, hosts, gauge, min, max, keys.Length);
    }

    /// <summary>
    /// Envoy <c>Ring::chooseHost(h, attempt)</c>: the first point whose hash is &gt;= <paramref name="hash"/>
    /// (wrapping to the first point past the last), then <paramref name="attempt"/> positions further on for
    /// retries. A retry may land on the same host again; Envoy accepts that too.
    /// </summary>
    /// <returns>Index into the host list the table was built from, or -1 when the ring is empty.</returns>
    public int Pick(ulong hash, int attempt = 0)
    {
        ulong[] hashes = _hashes;
        int length = hashes.Length;
        if (length == 0)
        {
            return -1;
        }

        // Envoy ports ketama_get_server's signed-index bisection; it is equivalent to lower_bound with
        // wrap-around, written here without bounds checks and with a conditional move instead of a
        // data-dependent branch (random hashes make that branch unpredictable).
        ref ulong first = ref MemoryMarshal.GetArrayDataReference(hashes);
        int lo = 0;
        int n = length;
        while (n > 1)
        {
            int half = n >> 1;
            lo = Unsafe.Add(ref first, lo + half) < hash ? lo + half : lo;
            n -= half;
        }

        int index = lo + (Unsafe.Add(ref first, lo) < hash ? 1 : 0);
        if (index == length)
        {
            index = 0;
        }

        if (attempt > 0)
        {
            index = (int)(((ulong)index + (ulong)attempt) % (ulong)length);
        }

        return Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_hosts), index);
    }

    /// <summary>The point at <paramref name="position"/> in sorted order (diagnostics and tests; Envoy logs these at trace).</summary>
    public (ulong Hash, int HostIndex) GetPoint(int position) => (_hashes[position], _hosts[position]);

    private static (ulong[] Hashes, int[] Hosts, ulong SizeGauge, ulong MinHashes, ulong MaxHashes) Build(
        ReadOnlySpan<string> keys,
        ReadOnlySpan<double> weights,
        ulong minimumRingSize,
        ulong maximumRingSize,
        RingHashFunction hashFunction)
    {
        if (keys.Length == 0)
        {
            return ([], [], 0, 0, 0);
        }

        // Envoy's refresh() starts min at 1.0 before folding in the weights.
        double minWeight = 1.0;
        foreach (double w in weights)
        {
            minWeight = Math.Min(minWeight, w);
        }

        // Scale so the least-weighted host gets a whole number of replicas, capped by the maximum size.
        // Kept in double, in Envoy's exact order of operations, because replica counts depend on it.
        double scale = Math.Min(Math.Ceiling(minWeight * minimumRingSize) / minWeight, (double)maximumRingSize);
        ulong ringSize = (ulong)Math.Ceiling(scale);

        // Running sums can overshoot ceil(scale) by one when the weights' rounding adds up past 1.0.
        var hashes = new ulong[checked((int)ringSize + 1)];
        var hosts = new int[hashes.Length];
        int count = 0;

        int maxKeyBytes = 0;
        foreach (string key in keys)
        {
            maxKeyBytes = Math.Max(maxKeyBytes, Encoding.UTF8.GetByteCount(key));
        }

        // key + "_" + decimal(i), as absl::StrCat builds it in Envoy; 20 digits cover any ulong.
        byte[] buffer = new byte[maxKeyBytes + 1 + 20];

        double currentHashes = 0.0;
        double targetHashes = 0.0;
        ulong minHashes = ringSize;
        ulong maxHashes = 0;
        for (int host = 0; host < keys.Length; host++)
        {
            int prefix = Encoding.UTF8.GetBytes(keys[host], buffer);
            buffer[prefix++] = (byte)'_';

            targetHashes += scale * weights[host];
            ulong i = 0;
            while (currentHashes < targetHashes)
            {
                bool formatted = i.TryFormat(buffer.AsSpan(prefix), out int digits, default, CultureInfo.InvariantCulture);
                Debug.Assert(formatted, "20 bytes hold any ulong");
                ReadOnlySpan<byte> replicaKey = buffer.AsSpan(0, prefix + digits);
                ulong h = hashFunction == RingHashFunction.MurmurHash2
                    ? MurmurHash2.Hash(replicaKey, MurmurHash2.StdHashSeed)
                    : XxHash64.Hash(replicaKey);

                if (count == hashes.Length)
                {
                    Array.Resize(ref hashes, hashes.Length * 2);
                    Array.Resize(ref hosts, hosts.Length * 2);
                }

                hashes[count] = h;
                hosts[count] = host;
                count++;
                i++;
                currentHashes += 1;
            }

            minHashes = Math.Min(minHashes, i);
            maxHashes = Math.Max(maxHashes, i);
        }

        Array.Resize(ref hashes, count);
        Array.Resize(ref hosts, count);
        Array.Sort(hashes, hosts);
        OrderEqualHashRuns(hashes, hosts);
        return (hashes, hosts, ringSize, minHashes, maxHashes);
    }

    // Envoy sorts with std::sort, so the order of points sharing one 64-bit hash (only possible when two
    // hosts share a hash key) is unspecified there. Array.Sort is unstable too; order such runs by host index
    // so the winner of a collision is at least deterministic across rebuilds and processes.
    private static void OrderEqualHashRuns(ulong[] hashes, int[] hosts)
    {
        int start = 0;
        while (start < hashes.Length)
        {
            int end = start + 1;
            while (end < hashes.Length && hashes[end] == hashes[start])
            {
                end++;
            }

            if (end - start > 1)
            {
                Array.Sort(hosts, start, end - start);
            }

            start = end;
        }
    }

    private static void ValidateConfig(ulong minimumRingSize, ulong maximumRingSize, RingHashFunction hashFunction)
    {
        if (minimumRingSize < 1 || minimumRingSize > RingSizeLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(minimumRingSize), minimumRingSize, $"minimum_ring_size must be between 1 and {RingSizeLimit}.");
        }

        if (maximumRingSize > RingSizeLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(maximumRingSize), maximumRingSize, $"maximum_ring_size must be at most {RingSizeLimit}.");
        }

        if (minimumRingSize > maximumRingSize)
        {
            // Envoy's constructor message, verbatim, so config errors read the same.
            throw new ArgumentException($"ring hash: minimum_ring_size ({minimumRingSize}) > maximum_ring_size ({maximumRingSize})", nameof(minimumRingSize));
        }

        if (hashFunction is not (RingHashFunction.XxHash or RingHashFunction.MurmurHash2))
        {
            throw new ArgumentOutOfRangeException(nameof(hashFunction), hashFunction, "Unknown ring hash function.");
        }
    }

    private static void ValidateKey(string? key, int index, string paramName)
    {
        // Envoy asserts a non-empty key; an empty one would put every replica of every such host on "_0", "_1"...
        if (string.IsNullOrEmpty(key))
        {
            throw new ArgumentException($"Host {index} has an empty hash key.", paramName);
        }
    }
}

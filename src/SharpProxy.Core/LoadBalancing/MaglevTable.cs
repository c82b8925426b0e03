using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using SharpProxy.Core.Hashing;

namespace SharpProxy.Core.LoadBalancing;

/// <summary>
/// Envoy's weighted Maglev lookup table (source/extensions/load_balancing_policies/maglev/maglev_lb.cc),
/// built once per host-set change and immutable afterwards, so any number of threads may <see cref="Pick"/>
/// concurrently. Same hosts, weights and table size give the same table as Envoy, slot for slot.
/// </summary>
/// <remarks>
/// Unlike the ring, the result does not depend on host order: hosts are sorted by hash key first, as Envoy
/// does. Slots hold indices into the caller's host list, as ushort when there are at most 65,536 hosts
/// (half the cache footprint for the default 65,537-slot table; Envoy's CompactMaglevTable makes the same
/// trade with a bit array) and as int otherwise.
/// </remarks>
internal sealed class MaglevTable
{
    /// <summary>Envoy <c>MaglevTable::DefaultTableSize</c>, the size recommended in section 5.3 of the Maglev paper.</summary>
    public const ulong DefaultTableSize = 65537;

    /// <summary>Upper bound the Maglev proto validates <c>table_size</c> against.</summary>
    public const ulong MaximumTableSize = 5000011;

    private readonly ushort[]? _narrow;
    private readonly int[]? _wide;
    private readonly ulong _tableSize;

    /// <summary>
    /// Builds the table from a flat host list, normalizing weights as Envoy does without locality weighting
    /// (<c>weight * 1.0 / sum</c> in double).
    /// </summary>
    /// <param name="hosts">Hosts; <see cref="Pick"/> returns indices into this span.</param>
    /// <param name="tableSize"><c>table_size</c>: a prime no larger than 5000011.</param>
    /// <exception cref="ArgumentException">The size is not prime or too large, a key is empty, a weight is 0, or weights sum past uint.MaxValue.</exception>
    public MaglevTable(ReadOnlySpan<HashHost> hosts, ulong tableSize = DefaultTableSize)
    {
        ValidateTableSize(tableSize);

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

            // Envoy's normalizeHostWeights expression: host->weight() * normalized_locality_weight / sum.
            weights[i] = hosts[i].Weight * 1.0 / sum;
        }

        _tableSize = tableSize;
        HostCount = hosts.Length;
        (_narrow, _wide, MinEntriesPerHost, MaxEntriesPerHost) = Build(keys, weights, tableSize);
    }

    private MaglevTable(ulong tableSize, int hostCount, ushort[]? narrow, int[]? wide, ulong minEntries, ulong maxEntries)
    {
        _tableSize = tableSize;
        HostCount = hostCount;
        _narrow = narrow;
        _wide = wide;
        MinEntriesPerHost = minEntries;
        MaxEntriesPerHost = maxEntries;
    }

    /// <summary>The configured table size M (a prime).</summary>
    public ulong TableSize => _tableSize;

    /// <summary>Number of hosts the table was built from; <see cref="Pick"/> returns indices below this.</summary>
    public int HostCount { get; }

    /// <summary>
    /// Fewest slots any host owns (Envoy gauge <c>maglev_lb.min_entries_per_host</c>). With a single host
    /// Envoy builds a <c>DegenerateMaglevTable</c> and reports 1; so does this. 0 when hosts outnumber slots.
    /// </summary>
    public ulong MinEntriesPerHost { get; }

    /// <summary>Most slots any host owns (Envoy gauge <c>maglev_lb.max_entries_per_host</c>).</summary>
    public ulong MaxEntriesPerHost { get; }

    /// <summary>
    /// Builds the table from weights the caller already normalized (Envoy's <c>NormalizedHostWeightVector</c>),
    /// e.g. with locality weighting. Hosts of zero-weight localities must be left out, as Envoy does.
    /// </summary>
    /// <exception cref="ArgumentException">Lengths differ, a key is empty, a weight is not positive and finite, or the size is invalid.</exception>
    public static MaglevTable FromNormalizedWeights(ReadOnlySpan<string> keys, ReadOnlySpan<double> normalizedWeights, ulong tableSize = DefaultTableSize)
    {
        ValidateTableSize(tableSize);
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

        var (narrow, wide, min, max) = Build(keys, normalizedWeights, tableSize);
        return new MaglevTable(tableSize, keys.Length, narrow, wide, min, max);
    }

    /// <summary>
    /// Envoy <c>MaglevTable::chooseHost(hash, attempt)</c>: <c>table[hash % M]</c>. For a retry attempt the hash
    /// is first XORed with <c>2^64 - attempt</c> (a value with most bits set, so each retry lands far away);
    /// that can still hit the same host, as in Envoy.
    /// </summary>
    /// <returns>Index into the host list the table was built from, or -1 when there are no hosts.</returns>
    public int Pick(ulong hash, int attempt = 0)
    {
        int hostCount = HostCount;
        if (hostCount <= 1)
        {
            // Empty: no host. One host: Envoy's DegenerateMaglevTable, which always returns it.
            return hostCount - 1;
        }

        if (attempt > 0)
        {
            hash ^= ~0UL - (ulong)attempt + 1;
        }

        // hash % M < M == array length, so the bounds check is provably redundant.
        nuint slot = (nuint)(hash % _tableSize);
        ushort[]? narrow = _narrow;
        if (narrow is not null)
        {
            return Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(narrow), slot);
        }

        return Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_wide!), slot);
    }

    /// <summary>Host index owning <paramref name="slot"/> (diagnostics and tests; Envoy logs the table at trace).</summary>
    public int GetSlot(int slot)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((ulong)slot, _tableSize, nameof(slot));
        if (HostCount <= 1)
        {
            return HostCount - 1;
        }

        return _narrow is not null ? _narrow[slot] : _wide![slot];
    }

    /// <summary>Envoy rejects a non-prime table size (the permutation needs every skip coprime with M).</summary>
    public static bool IsPrime(ulong n)
    {
        if (n < 2)
        {
            return false;
        }

        if (n % 2 == 0)
        {
            return n == 2;
        }

        for (ulong d = 3; d * d <= n; d += 2)
        {
            if (n % d == 0)
            {
                return false;
            }
        }

        return true;
    }

    private static (ushort[]? Narrow, int[]? Wide, ulong MinEntries, ulong MaxEntries) Build(
        ReadOnlySpan<string> keys,
        ReadOnlySpan<double> weights,
        ulong tableSize)
    {
        if (keys.Length == 0)
        {
            return (null, null, 0, 0);
        }

        if (keys.Length == 1)
        {
            // Newest Envoy short-circuits a single host (DegenerateMaglevTable) and reports 1 entry.
            return (null, null, 1, 1);
        }

        // Envoy sorts (key, host pointer, weight) tuples so the table is independent of host-set order.
        // string_view compares bytes as unsigned chars, i.e. UTF-8 ordinal; for equal keys Envoy falls back
        // to pointer order (effectively arbitrary), here to input order so rebuilds are deterministic.
        var utf8Keys = new byte[keys.Length][];
        var order = new int[keys.Length];
        for (int i = 0; i < keys.Length; i++)
        {
            utf8Keys[i] = Encoding.UTF8.GetBytes(keys[i]);
            order[i] = i;
        }

        Array.Sort(order, (a, b) =>
        {
            int byKey = utf8Keys[a].AsSpan().SequenceCompareTo(utf8Keys[b]);
            return byKey != 0 ? byKey : a.CompareTo(b);
        });

        double maxWeight = 0.0;
        foreach (double w in weights)
        {
            maxWeight = Math.Max(maxWeight, w);
        }

        var entries = new BuildEntry[keys.Length];
        for (int i = 0; i < entries.Length; i++)
        {
            int host = order[i];
            byte[] key = utf8Keys[host];
            ulong offset = XxHash64.Hash(key) % tableSize;
            entries[i] = new BuildEntry
            {
                Host = host,
                Skip = (XxHash64.Hash(key, 1) % (tableSize - 1)) + 1,
                Position = offset,
                Weight = weights[host],
            };
        }

        int size = checked((int)tableSize);
        var table = new int[size];
        Array.Fill(table, -1);

        // Pseudocode listing 1 of the Maglev paper with Envoy's weighting: a host whose weight equals the
        // maximum claims a slot every iteration, one with a third of it every third iteration. The double
        // comparison is Envoy's, so fractional weights round the same way.
        ulong filled = 0;
        for (uint iteration = 1; filled < tableSize; iteration++)
        {
            for (int i = 0; i < entries.Length && filled < tableSize; i++)
            {
                ref BuildEntry entry = ref entries[i];
                if (iteration * entry.Weight < entry.TargetWeight)
                {
                    continue;
                }

                entry.TargetWeight += maxWeight;
                while (table[entry.Position] >= 0)
                {
                    Advance(ref entry, tableSize);
                }

                table[entry.Position] = entry.Host;
                Advance(ref entry, tableSize);
                entry.Count++;
                filled++;
            }
        }

        ulong minEntries = tableSize;
        ulong maxEntries = 0;
        foreach (BuildEntry entry in entries)
        {
            minEntries = Math.Min(minEntries, entry.Count);
            maxEntries = Math.Max(maxEntries, entry.Count);
        }

        if (keys.Length <= ushort.MaxValue + 1)
        {
            var narrow = new ushort[size];
            for (int i = 0; i < size; i++)
            {
                narrow[i] = (ushort)table[i];
            }

            return (narrow, null, minEntries, maxEntries);
        }

        return (null, table, minEntries, maxEntries);
    }

    // Envoy computes permutation(entry) = (offset + skip * next) % M afresh after each next++. Stepping the
    // previous position by skip and wrapping once gives the same slot (position, skip < M), without a 64-bit
    // division per probe; the fill's late probes dominate build time. Envoy's product never wraps either: every
    // slot an entry probes stays occupied, so next <= M and skip * next < M^2 < 2^64.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Advance(ref BuildEntry entry, ulong tableSize)
    {
        ulong next = entry.Position + entry.Skip;
        entry.Position = next >= tableSize ? next - tableSize : next;
    }

    private static void ValidateTableSize(ulong tableSize)
    {
        if (tableSize > MaximumTableSize)
        {
            throw new ArgumentOutOfRangeException(nameof(tableSize), tableSize, $"The table size of maglev must be at most {MaximumTableSize}.");
        }

        if (!IsPrime(tableSize))
        {
            // Envoy's message, verbatim.
            throw new ArgumentException("The table size of maglev must be prime number", nameof(tableSize));
        }
    }

    private static void ValidateKey(string? key, int index, string paramName)
    {
        if (string.IsNullOrEmpty(key))
        {
            throw new ArgumentException($"Host {index} has an empty hash key.", paramName);
        }
    }

    private struct BuildEntry
    {
        public int Host;
        public ulong Skip;
        public ulong Position; // Envoy's permutation(entry) for the current `next`
        public double Weight;
        public double TargetWeight;
        public ulong Count;
    }
}

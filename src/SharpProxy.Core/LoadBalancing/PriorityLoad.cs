namespace SharpProxy.Core.LoadBalancing;

/// <summary>Host counts of one priority level, as Envoy's load computation sees them.</summary>
/// <param name="Hosts">All hosts of the level (Envoy's <c>hosts()</c>).</param>
/// <param name="Healthy">Hosts that are healthy and not ejected (<c>healthyHosts()</c>).</param>
/// <param name="Degraded">Hosts that are degraded and not ejected (<c>degradedHosts()</c>).</param>
internal readonly record struct PriorityLevelCounts(int Hosts, int Healthy, int Degraded);

/// <summary>
/// Envoy's per-priority load (<c>LoadBalancerBase::recalculatePerPriorityState</c>,
/// <c>recalculatePerPriorityPanic</c>, <c>recalculateLoadInTotalPanic</c>, <c>choosePriority</c>): integer health
/// scores scaled by the overprovisioning factor, load spilling from one level to the next, panic per level when the
/// cluster as a whole cannot take the load, and total panic when every level is in panic. Computed once per host-set
/// change; <see cref="ChoosePriority"/> is the only part on the request path.
/// </summary>
internal sealed class PriorityLoad
{
    /// <summary>Envoy's default <c>overprovisioning_factor</c> (140 = 1.4).</summary>
    public const int DefaultOverprovisioningFactor = 140;

    /// <summary>Envoy's default <c>healthy_panic_threshold</c> (50 %).</summary>
    public const int DefaultPanicThreshold = 50;

    private PriorityLoad(int[] healthyLoad, int[] degradedLoad, bool[] panic)
    {
        HealthyLoad = healthyLoad;
        DegradedLoad = degradedLoad;
        Panic = panic;
    }

    /// <summary>Percent of requests sent to each level's healthy hosts (sums to 100 together with <see cref="DegradedLoad"/>).</summary>
    public int[] HealthyLoad { get; }

    /// <summary>Percent of requests sent to each level's degraded hosts.</summary>
    public int[] DegradedLoad { get; }

    /// <summary>Levels in panic: balanced over all their hosts, whatever their health.</summary>
    public bool[] Panic { get; }

    public static PriorityLoad Compute(ReadOnlySpan<PriorityLevelCounts> levels, int panicThreshold = DefaultPanicThreshold, int overprovisioningFactor = DefaultOverprovisioningFactor)
    {
        var count = Math.Max(1, levels.Length);
        var healthyLoad = new int[count];
        var degradedLoad = new int[count];
        var panic = new bool[count];
        var health = new int[count];
        var degraded = new int[count];
        for (var i = 0; i < levels.Length; i++)
        {
            var level = levels[i];
            if (level.Hosts > 0)
            {
                // Integer arithmetic as Envoy's: min(100, factor * healthy / total).
                health[i] = (int)Math.Min(100L, (long)overprovisioningFactor * level.Healthy / level.Hosts);
                degraded[i] = (int)Math.Min(100L, (long)overprovisioningFactor * level.Degraded / level.Hosts);
            }
        }

        var totalAvailability = 0;
        for (var i = 0; i < count; i++)
        {
            totalAvailability += health[i] + degraded[i];
        }

        totalAvailability = Math.Min(100, totalAvailability);
        if (totalAvailability > 0)
        {
            var (firstHealthy, remaining) = Distribute(healthyLoad, health, 100, totalAvailability);
            var (firstDegraded, rest) = Distribute(degradedLoad, degraded, remaining, totalAvailability);
            if (rest != 0)
            {
                // Rounding leftovers go to the first level that has any healthy (else degraded) availability.
                if (firstHealthy >= 0)
                {
                    healthyLoad[firstHealthy] += rest;
                }
                else
                {
                    degradedLoad[firstDegraded] += rest;
                }
            }
        }

        var threshold = Math.Clamp(panicThreshold, 0, 100);
        if (threshold == 0 && totalAvailability == 0)
        {
            // Panic disabled and nothing available: 100 % to P0, where no host will be found (503 no healthy upstream).
            healthyLoad[0] = 100;
            return new PriorityLoad(healthyLoad, degradedLoad, panic);
        }

        var totalPanic = true;
        for (var i = 0; i < count; i++)
        {
            // Never panic while the levels together can take all the load.
            panic[i] = totalAvailability != 100 && IsInPanic(i < levels.Length ? levels[i] : default, threshold);
            totalPanic &= panic[i];
        }

        if (totalPanic)
        {
            LoadInTotalPanic(levels, healthyLoad, degradedLoad);
        }

        return new PriorityLoad(healthyLoad, degradedLoad, panic);
    }

    /// <summary>
    /// Envoy's <c>choosePriority</c>: <c>hash % 100 + 1</c> walked over the cumulative healthy loads, then the degraded ones.
    /// </summary>
    public int ChoosePriority(ulong hash, out bool degraded)
    {
        var point = (int)(hash % 100) + 1;
        var cumulative = 0;
        var healthyLoad = HealthyLoad;
        for (var i = 0; i < healthyLoad.Length; i++)
        {
            cumulative += healthyLoad[i];
            if (point <= cumulative)
            {
                degraded = false;
                return i;
            }
        }

        var degradedLoad = DegradedLoad;
        for (var i = 0; i < degradedLoad.Length; i++)
        {
            cumulative += degradedLoad[i];
            if (point <= cumulative)
            {
                degraded = true;
                return i;
            }
        }

        degraded = false;
        return 0;
    }

    private static bool IsInPanic(PriorityLevelCounts level, int threshold)
    {
        if (level.Hosts == 0)
        {
            return 0.0 < threshold;
        }

        var available = (100.0 * level.Healthy / level.Hosts) + (100.0 * level.Degraded / level.Hosts);
        return available < threshold;
    }

    private static (int FirstAvailable, int Remaining) Distribute(int[] load, int[] availability, int total, int totalAvailability)
    {
        var first = -1;
        for (var i = 0; i < availability.Length; i++)
        {
            if (first < 0 && availability[i] > 0)
            {
                first = i;
            }

            load[i] = Math.Min(total, availability[i] * 100 / totalAvailability);
            total -= load[i];
        }

        return (first, total);
    }

    private static void LoadInTotalPanic(ReadOnlySpan<PriorityLevelCounts> levels, int[] healthyLoad, int[] degradedLoad)
    {
        long totalHosts = 0;
        foreach (var level in levels)
        {
            totalHosts += level.Hosts;
        }

        Array.Clear(healthyLoad);
        Array.Clear(degradedLoad);
        if (totalHosts == 0)
        {
            healthyLoad[0] = 100;
            return;
        }

        // Every level is in panic: load follows the number of hosts per level, whatever their health.
        var remaining = 100;
        var firstNonEmpty = -1;
        for (var i = 0; i < levels.Length; i++)
        {
            if (firstNonEmpty < 0 && levels[i].Hosts != 0)
            {
                firstNonEmpty = i;
            }

            healthyLoad[i] = (int)(100L * levels[i].Hosts / totalHosts);
            remaining -= healthyLoad[i];
        }

        healthyLoad[firstNonEmpty] += remaining;
    }
}

using SharpProxy.Interception.Options;
using SharpProxy.Interception.Platform;
using SharpProxy.Interception.Rules;

namespace SharpProxy.Interception.Apply;

/// <summary>Applying or removing rules failed; the message says which command and why.</summary>
internal sealed class ApplyException(string message) : Exception(message);

/// <summary>
/// Installs and removes the iptables rule set.
/// <para>
/// Apply, per family: read <c>iptables-save</c>; if our chains already hold exactly the planned rules (Istio's
/// "residue without delta": chain set, rule counts, hook count and <c>iptables -C</c> of every planned rule) nothing is
/// done. Otherwise one <c>iptables-restore --noflush</c> both removes the previous installation (the jumps into
/// <c>ISTIO_*</c> chains found in the saved state, planned non-jump rules in built-in chains that exist, then
/// <c>-F</c>/<c>-X</c> of every <c>ISTIO_*</c> chain) and installs the planned rules, so the change is atomic and a
/// re-run never duplicates a rule.
/// </para>
/// <para>
/// Cleanup removes the same things from every installed variant (legacy and nf_tables) of both families that has any.
/// </para>
/// </summary>
internal sealed class IptablesApplier(IProcessRunner runner, TextWriter log)
{
    private const int MaxCleanupPasses = 5;

    /// <summary>Applies <paramref name="rules"/>; returns a one-line summary per family.</summary>
    public IReadOnlyList<string> Apply(IptablesOptions cfg, IptablesRuleSet rules)
    {
        var summary = new List<string>();
        foreach (var family in Families(cfg.EnableIPv6))
        {
            IptablesBinaries bins;
            try
            {
                bins = IptablesBinaryDetector.Detect(runner, family, cfg.ForceIptablesBinary);
            }
            catch (InvalidOperationException e)
            {
                throw new ApplyException(e.Message);
            }

            log.WriteLine($"{Name(family)}: using {bins.Describe}");
            var planned = rules.Rules(family);
            var state = Save(bins);
            var existingBuiltIn = ExistingBuiltInRules(bins, planned);

            if ((state.HasResidue || existingBuiltIn.Count > 0) && !cfg.ForceApply && !HasDelta(bins, state, planned))
            {
                log.WriteLine($"{Name(family)}: the installed rules already match; nothing to do");
                summary.Add($"{Name(family)}: {planned.Count} rules already installed ({bins.Describe})");
                continue;
            }

            var prologue = RemovalPrologue(state, existingBuiltIn);
            string document = IptablesRuleSet.BuildRestore(planned, prologue);
            Restore(bins, document);

            var after = Save(bins);
            if (HasDelta(bins, after, planned))
            {
                throw new ApplyException($"{Name(family)}: the rules read back after {bins.Restore} differ from the planned rules");
            }

            summary.Add($"{Name(family)}: applied {planned.Count} rules ({bins.Describe})");
        }

        return summary;
    }

    /// <summary>Removes every chain, jump and planned built-in rule of ours; returns a summary per family/variant.</summary>
    public IReadOnlyList<string> Cleanup(IptablesOptions cfg, IptablesRuleSet plan)
    {
        var summary = new List<string>();
        foreach (var family in Families(true))
        {
            var variants = IptablesBinaryDetector.Installed(runner, family);
            if (variants.Count == 0)
            {
                if (family == IpFamily.V4 || cfg.EnableIPv6)
                {
                    throw new ApplyException($"no {(family == IpFamily.V4 ? "iptables" : "ip6tables")} binaries found (install the 'iptables' package)");
                }

                continue;
            }

            foreach (var bins in variants)
            {
                int removed = 0;
                for (int pass = 0; ; pass++)
                {
                    var state = Save(bins);
                    var existingBuiltIn = ExistingBuiltInRules(bins, plan.Rules(family));
                    if (!state.HasResidue && existingBuiltIn.Count == 0)
                    {
                        break;
                    }

                    if (pass == MaxCleanupPasses)
                    {
                        throw new ApplyException($"{Name(family)}: {bins.Iptables} still has ISTIO_* chains or rules after {pass} cleanup passes");
                    }

                    var prologue = RemovalPrologue(state, existingBuiltIn);
                    removed += prologue.Values.Sum(l => l.Count(x => x.StartsWith("-D", StringComparison.Ordinal) || x.StartsWith("-X", StringComparison.Ordinal)));
                    Restore(bins, IptablesRuleSet.BuildRestore([], prologue));
                }

                if (removed > 0)
                {
                    summary.Add($"{Name(family)}: removed {removed} chains and rules ({bins.Describe})");
                }
            }
        }

        return summary;
    }

    private static IEnumerable<IpFamily> Families(bool ipv6) => ipv6 ? [IpFamily.V4, IpFamily.V6] : [IpFamily.V4];

    private static string Name(IpFamily family) => family == IpFamily.V4 ? "IPv4" : "IPv6";

    private IptablesState Save(IptablesBinaries bins)
    {
        var r = runner.Run(bins.Save, []);
        if (!r.Success)
        {
            throw new ApplyException($"{bins.Save} failed (exit {r.ExitCode}): {r.StandardError.Trim()}");
        }

        return IptablesState.Parse(r.StandardOutput);
    }

    private void Restore(IptablesBinaries bins, string document)
    {
        if (document.Length == 0)
        {
            return;
        }

        log.WriteLine($"Running {bins.Restore} --noflush with:\n{document.TrimEnd()}");
        var r = runner.Run(bins.Restore, bins.NeedsWait ? ["--noflush", "--wait=30"] : ["--noflush"], document);
        if (!r.Success)
        {
            throw new ApplyException($"{bins.Restore} --noflush failed (exit {r.ExitCode}): {r.StandardError.Trim()}");
        }
    }

    /// <summary>Runs <c>iptables -t T -C chain spec</c>: does the rule exist?</summary>
    private bool Exists(IptablesBinaries bins, IptablesRule rule)
    {
        string[] args = ["-t", rule.Table, "-C", rule.Chain, .. rule.Spec];
        var r = runner.Run(bins.Iptables, bins.NeedsWait ? [.. args, "--wait=30"] : args);
        return r.Success;
    }

    /// <summary>Planned rules that live in built-in chains and are not jumps into our chains (e.g. <c>-c</c> RETURNs).</summary>
    private static IEnumerable<IptablesRule> BuiltInNonJumpRules(IReadOnlyList<IptablesRule> planned) =>
        planned.Where(r => !IptablesRuleSet.IsOurChain(r.Chain) && !(r.JumpTarget is { } t && IptablesRuleSet.IsOurChain(t)))
            .DistinctBy(r => (r.Table, r.Chain, string.Join(' ', r.Spec)));

    private List<IptablesRule> ExistingBuiltInRules(IptablesBinaries bins, IReadOnlyList<IptablesRule> planned) =>
        BuiltInNonJumpRules(planned).Where(r => Exists(bins, r)).ToList();

    /// <summary>Per table: delete our hooks and existing built-in rules, flush then delete every ISTIO_* chain.</summary>
    private static Dictionary<string, List<string>> RemovalPrologue(IptablesState state, IReadOnlyList<IptablesRule> existingBuiltIn)
    {
        var prologue = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        List<string> For(string table)
        {
            if (!prologue.TryGetValue(table, out var l))
            {
                l = [];
                prologue[table] = l;
            }

            return l;
        }

        foreach (var jump in state.JumpsIntoOurChains())
        {
            // The saved line starts with "-A CHAIN"; the same words after -D delete exactly that rule.
            For(jump.Table).Add("-D" + jump.Line[jump.Line.IndexOf(' ', StringComparison.Ordinal)..]);
        }

        foreach (var rule in existingBuiltIn)
        {
            For(rule.Table).Add($"-D {rule.Chain} {string.Join(' ', rule.Spec)}");
        }

        foreach (var (table, chain) in state.OurChains())
        {
            For(table).Add("-F " + chain);
        }

        foreach (var (table, chain) in state.OurChains())
        {
            For(table).Add("-X " + chain);
        }

        return prologue;
    }

    /// <summary>Istio's <c>VerifyIptablesState</c> delta, plus a count of our hooks so that duplicates are seen.</summary>
    private bool HasDelta(IptablesBinaries bins, IptablesState state, IReadOnlyList<IptablesRule> planned)
    {
        var plannedChains = IptablesRuleSet.ChainsOf(planned).ToHashSet();
        var installedChains = state.OurChains().ToHashSet();
        if (!plannedChains.SetEquals(installedChains))
        {
            return true;
        }

        foreach (var (table, chain) in plannedChains)
        {
            if (state.CountRules(table, chain) != planned.Count(r => r.Table == table && r.Chain == chain))
            {
                return true;
            }
        }

        var plannedHooks = planned.Count(r => !IptablesRuleSet.IsOurChain(r.Chain) && r.JumpTarget is { } t && IptablesRuleSet.IsOurChain(t));
        if (state.JumpsIntoOurChains().Count() != plannedHooks)
        {
            return true;
        }

        return planned.Any(r => !Exists(bins, r));
    }
}

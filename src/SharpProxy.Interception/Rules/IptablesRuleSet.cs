using System.Text;

namespace SharpProxy.Interception.Rules;

/// <summary>One iptables rule: table, chain and the parameters starting with <c>-A chain</c> or <c>-I chain N</c>.</summary>
internal sealed record IptablesRule(string Table, string Chain, IReadOnlyList<string> Params)
{
    public bool IsInsert => Params[0] == "-I";

    /// <summary>The rule specification without the <c>-A chain</c> / <c>-I chain N</c> prefix.</summary>
    public IReadOnlyList<string> Spec => IsInsert ? Params.Skip(3).ToArray() : Params.Skip(2).ToArray();

    /// <summary>The target chain when the rule ends in <c>-j CHAIN</c> (the builder's notion of a jump).</summary>
    public string? JumpTarget => Params.Count >= 2 && Params[^2] == "-j" ? Params[^1] : null;

    public string Text => string.Join(' ', Params);
}

/// <summary>
/// The v4 and v6 rule lists, in insertion order, and their rendering as an <c>iptables-restore</c> document. Mirrors
/// the semantics of Istio's builder (tools/istio-iptables/pkg/builder/iptables_builder_impl.go): v6 rules are only kept
/// when IPv6 is enabled; per table <c>-N</c> lines come first (chains in order of first use, then chains only used as
/// jump targets), then the rules in order; tables are emitted sorted by name and empty ones are skipped.
/// </summary>
internal sealed class IptablesRuleSet(bool enableIPv6)
{
    /// <summary>Placeholder replaced by the IPv4 or IPv6 value in <see cref="AppendVersionedRule"/>.</summary>
    public const string IPVersionSpecific = "PLACEHOLDER_IP_VERSION_SPECIFIC";

    /// <summary>Chains and targets that are never created or deleted (Istio's <c>BuiltInChainsMap</c>).</summary>
    public static readonly IReadOnlySet<string> BuiltInChains =
        new HashSet<string>(StringComparer.Ordinal) { "INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING", "ACCEPT", "RETURN", "DROP" };

    private readonly List<IptablesRule> _v4 = [];
    private readonly List<IptablesRule> _v6 = [];

    public bool EnableIPv6 { get; } = enableIPv6;

    public IReadOnlyList<IptablesRule> V4 => _v4;

    public IReadOnlyList<IptablesRule> V6 => _v6;

    public IReadOnlyList<IptablesRule> Rules(IpFamily family) => family == IpFamily.V4 ? _v4 : _v6;

    public void AppendRule(string chain, string table, params string[] parameters)
    {
        AppendRuleV4(chain, table, parameters);
        AppendRuleV6(chain, table, parameters);
    }

    public void AppendRuleV4(string chain, string table, params string[] parameters) =>
        _v4.Add(new IptablesRule(table, chain, ["-A", chain, .. parameters]));

    public void AppendRuleV6(string chain, string table, params string[] parameters)
    {
        if (EnableIPv6)
        {
            _v6.Add(new IptablesRule(table, chain, ["-A", chain, .. parameters]));
        }
    }

    public void InsertRule(string chain, string table, int position, params string[] parameters)
    {
        InsertRuleV4(chain, table, position, parameters);
        InsertRuleV6(chain, table, position, parameters);
    }

    public void InsertRuleV4(string chain, string table, int position, params string[] parameters) =>
        _v4.Add(new IptablesRule(table, chain, ["-I", chain, position.ToString(System.Globalization.CultureInfo.InvariantCulture), .. parameters]));

    public void InsertRuleV6(string chain, string table, int position, params string[] parameters)
    {
        if (EnableIPv6)
        {
            _v6.Add(new IptablesRule(table, chain, ["-I", chain, position.ToString(System.Globalization.CultureInfo.InvariantCulture), .. parameters]));
        }
    }

    /// <summary>Appends to both families, substituting <see cref="IPVersionSpecific"/> per family.</summary>
    public void AppendVersionedRule(string ipv4, string ipv6, string chain, string table, params string[] parameters)
    {
        AppendRuleV4(chain, table, Replace(parameters, ipv4));
        AppendRuleV6(chain, table, Replace(parameters, ipv6));
    }

    private static string[] Replace(string[] parameters, string value) =>
        parameters.Select(p => p == IPVersionSpecific ? value : p).ToArray();

    /// <summary>Every non-built-in chain used per table, in the order the restore document creates them.</summary>
    public static IReadOnlyList<(string Table, string Chain)> ChainsOf(IReadOnlyList<IptablesRule> rules)
    {
        var seen = new HashSet<(string, string)>();
        var result = new List<(string, string)>();
        foreach (var r in rules)
        {
            if (seen.Add((r.Table, r.Chain)) && !BuiltInChains.Contains(r.Chain))
            {
                result.Add((r.Table, r.Chain));
            }
        }

        foreach (var r in rules)
        {
            if (r.JumpTarget is { } target && seen.Add((r.Table, target)) && !BuiltInChains.Contains(target))
            {
                result.Add((r.Table, target));
            }
        }

        return result;
    }

    /// <summary>The <c>iptables-restore --noflush</c> input for one family (empty string when there are no rules).</summary>
    public string BuildRestore(IpFamily family) => BuildRestore(Rules(family), prologue: null);

    /// <summary>
    /// Renders <paramref name="rules"/> as a restore document. <paramref name="prologue"/> lines (per table) are placed
    /// right after the <c>* table</c> line, before the <c>-N</c> lines: used to remove a previous installation in the
    /// same atomic restore.
    /// </summary>
    public static string BuildRestore(IReadOnlyList<IptablesRule> rules, IReadOnlyDictionary<string, List<string>>? prologue)
    {
        var tables = new SortedDictionary<string, List<string>>(StringComparer.Ordinal)
        {
            ["filter"] = [],
            ["nat"] = [],
            ["mangle"] = [],
        };

        foreach (var (table, chain) in ChainsOf(rules))
        {
            Table(tables, table).Add("-N " + chain);
        }

        foreach (var r in rules)
        {
            Table(tables, r.Table).Add(r.Text);
        }

        var b = new StringBuilder();
        var names = new SortedSet<string>(tables.Keys, StringComparer.Ordinal);
        if (prologue is not null)
        {
            names.UnionWith(prologue.Keys);
        }

        foreach (var table in names)
        {
            var pre = prologue is not null && prologue.TryGetValue(table, out var p) ? p : [];
            var body = tables.TryGetValue(table, out var t) ? t : [];
            if (pre.Count == 0 && body.Count == 0)
            {
                continue;
            }

            b.Append("* ").Append(table).Append('\n');
            foreach (var line in pre)
            {
                b.Append(line).Append('\n');
            }

            foreach (var line in body)
            {
                b.Append(line).Append('\n');
            }

            b.Append("COMMIT\n");
        }

        return b.ToString();
    }

    private static List<string> Table(SortedDictionary<string, List<string>> tables, string table)
    {
        if (!tables.TryGetValue(table, out var list))
        {
            list = [];
            tables[table] = list;
        }

        return list;
    }

    /// <summary>
    /// Istio's static cleanup (<c>buildCleanupRules</c>): the rules in reverse order, jumps into our chains and
    /// non-jump rules in built-in chains become <c>-D</c>, then every chain we create is flushed and deleted. Used to
    /// show the cleanup in <c>--dry-run --cleanup-only</c>; the real cleanup works from the saved state.
    /// </summary>
    public static IReadOnlyList<string[]> BuildStaticCleanup(IReadOnlyList<IptablesRule> rules)
    {
        var output = new List<string[]>();
        var reversed = rules.Reverse().ToList();
        foreach (var r in reversed)
        {
            if (IsOurChain(r.Chain))
            {
                continue;
            }

            output.Add(["-t", r.Table, "-D", r.Chain, .. r.Spec]);
        }

        var seen = new HashSet<(string, string)>();
        foreach (var r in reversed)
        {
            foreach (var chain in new[] { r.Chain, r.JumpTarget })
            {
                if (chain is not null && !BuiltInChains.Contains(chain) && IsOurChain(chain) && seen.Add((r.Table, chain)))
                {
                    output.Add(["-t", r.Table, "-F", chain]);
                    output.Add(["-t", r.Table, "-X", chain]);
                }
            }
        }

        return output;
    }

    /// <summary>Every chain this tool creates starts with <c>ISTIO_</c>.</summary>
    public static bool IsOurChain(string chain) => chain.StartsWith("ISTIO_", StringComparison.Ordinal);
}

internal enum IpFamily
{
    V4,
    V6,
}

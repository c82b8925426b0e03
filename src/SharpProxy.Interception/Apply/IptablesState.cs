using SharpProxy.Interception.Rules;

namespace SharpProxy.Interception.Apply;

/// <summary>One rule line of <c>iptables-save</c> output, split into words (quotes respected).</summary>
internal sealed record SavedRule(string Table, string Chain, string Line, IReadOnlyList<string> Words)
{
    /// <summary>The chain this rule jumps or goes to (<c>-j</c>/<c>-g</c>), if any.</summary>
    public string? Target
    {
        get
        {
            for (int i = 0; i < Words.Count - 1; i++)
            {
                if (Words[i] is "-j" or "--jump" or "-g" or "--goto")
                {
                    return Words[i + 1];
                }
            }

            return null;
        }
    }
}

/// <summary>
/// The parsed output of <c>iptables-save</c> for one family: which chains exist per table and every rule.
/// Only what the verify/cleanup logic needs (Istio's <c>GetStateFromSave</c> has the same shape).
/// </summary>
internal sealed class IptablesState
{
    private readonly Dictionary<string, List<string>> _chains = new(StringComparer.Ordinal);
    private readonly List<SavedRule> _rules = [];

    public IReadOnlyList<SavedRule> Rules => _rules;

    public IEnumerable<string> Tables => _chains.Keys;

    public IReadOnlyList<string> ChainsOf(string table) => _chains.TryGetValue(table, out var c) ? c : [];

    public static IptablesState Parse(string save)
    {
        var state = new IptablesState();
        string table = "";
        foreach (var raw in save.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line[0] == '#' || line == "COMMIT")
            {
                continue;
            }

            if (line[0] == '*')
            {
                table = line[1..].Trim();
                if (!state._chains.ContainsKey(table))
                {
                    state._chains[table] = [];
                }

                continue;
            }

            if (line[0] == ':')
            {
                int space = line.IndexOf(' ', StringComparison.Ordinal);
                state._chains[table].Add(space > 0 ? line[1..space] : line[1..]);
                continue;
            }

            var words = SplitWords(line);
            if (words.Count >= 2 && words[0] is "-A" or "--append")
            {
                state._rules.Add(new SavedRule(table, words[1], line, words));
            }
        }

        return state;
    }

    /// <summary>Every <c>ISTIO_*</c> chain, per table.</summary>
    public IEnumerable<(string Table, string Chain)> OurChains() =>
        _chains.SelectMany(kv => kv.Value.Where(IptablesRuleSet.IsOurChain).Select(c => (kv.Key, c)));

    /// <summary>Rules outside our chains that jump into one of them (the hooks we install).</summary>
    public IEnumerable<SavedRule> JumpsIntoOurChains() =>
        _rules.Where(r => !IptablesRuleSet.IsOurChain(r.Chain) && r.Target is { } t && IptablesRuleSet.IsOurChain(t));

    /// <summary>Anything of ours left: a chain or a jump into one.</summary>
    public bool HasResidue => OurChains().Any() || JumpsIntoOurChains().Any();

    public int CountRules(string table, string chain) => _rules.Count(r => r.Table == table && r.Chain == chain);

    /// <summary>Splits a saved rule into words the way iptables-restore does (double quotes group, backslash escapes).</summary>
    public static List<string> SplitWords(string line)
    {
        var words = new List<string>();
        var current = new System.Text.StringBuilder();
        bool inQuotes = false, has = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (c == '\\' && i + 1 < line.Length)
            {
                current.Append(line[++i]);
                has = true;
            }
            else if (c == '"')
            {
                inQuotes = !inQuotes;
                has = true;
            }
            else if (c == ' ' && !inQuotes)
            {
                if (has)
                {
                    words.Add(current.ToString());
                    current.Clear();
                    has = false;
                }
            }
            else
            {
                current.Append(c);
                has = true;
            }
        }

        if (has)
        {
            words.Add(current.ToString());
        }

        return words;
    }
}

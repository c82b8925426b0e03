using SharpProxy.Interception.Platform;
using SharpProxy.Interception.Rules;

namespace SharpProxy.Interception.Apply;

/// <summary>
/// Installs and removes the native nftables rule set with one <c>nft -f -</c> transaction each time: our three
/// <c>inet istio-proxy-*</c> tables are deleted and recreated inside the same transaction, so re-running is atomic and
/// never duplicates, and cleanup deletes the tables (and with them every chain and rule) and nothing else.
/// </summary>
internal sealed class NftablesApplier(IProcessRunner runner, TextWriter log)
{
    public string Apply(NftablesRuleSet rules)
    {
        string script = rules.BuildScript();
        Run(script);
        var present = ListOurTables();
        var expected = rules.RuleLines().Where(l => l.StartsWith("add table ", StringComparison.Ordinal))
            .Select(l => l["add table inet ".Length..]).ToList();
        if (!expected.All(present.Contains))
        {
            throw new ApplyException("nft reported success but the istio-proxy tables are missing: " + string.Join(", ", present));
        }

        return $"nftables: applied {expected.Count} tables ({string.Join(", ", expected)})";
    }

    public string Cleanup()
    {
        var before = ListOurTables();
        Run(NftablesRuleSet.BuildCleanupScript());
        var after = ListOurTables();
        if (after.Count > 0)
        {
            throw new ApplyException("nft cleanup left tables behind: " + string.Join(", ", after));
        }

        return before.Count == 0 ? "nftables: nothing to remove" : $"nftables: removed tables {string.Join(", ", before)}";
    }

    private void Run(string script)
    {
        log.WriteLine($"Running nft -f - with:\n{script.TrimEnd()}");
        var r = runner.Run("nft", ["-f", "-"], script);
        if (r.ExitCode == ProcessResult.NotFound)
        {
            throw new ApplyException("nft not found (install the 'nftables' package)");
        }

        if (!r.Success)
        {
            throw new ApplyException($"nft -f failed (exit {r.ExitCode}): {r.StandardError.Trim()}");
        }
    }

    private List<string> ListOurTables()
    {
        var r = runner.Run("nft", ["list", "tables"]);
        if (!r.Success)
        {
            throw new ApplyException($"nft list tables failed (exit {r.ExitCode}): {r.StandardError.Trim()}");
        }

        return r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.StartsWith("table inet ", StringComparison.Ordinal))
            .Select(l => l["table inet ".Length..])
            .Where(NftablesRuleSet.Tables.Contains)
            .ToList();
    }
}

using System.Text.RegularExpressions;
using SharpProxy.Interception.Platform;
using SharpProxy.Interception.Rules;

namespace SharpProxy.Interception.Apply;

/// <summary>The iptables program set for one family and variant (e.g. <c>ip6tables-nft</c>, <c>-save</c>, <c>-restore</c>).</summary>
internal sealed record IptablesBinaries(string Iptables, string Save, string Restore, bool Legacy, Version Version)
{
    /// <summary>Legacy iptables since 1.6.2 takes the xtables lock; wait for it like Istio (<c>--wait=30</c>).</summary>
    public bool NeedsWait => Legacy && Version >= new Version(1, 6, 2);

    public string Describe => $"{Iptables} v{Version} ({(Legacy ? "legacy" : "nf_tables")})";
}

/// <summary>
/// Chooses between the legacy and nf_tables variants the way istio-iptables does
/// (tools/istio-iptables/pkg/dependencies/implementation.go <c>DetectIptablesVersion</c>): a forced variant if given;
/// else legacy when legacy rules already exist in this namespace; else nft when usable; else the unsuffixed binary.
/// Difference: "existing rules" means actual <c>-A</c> rules, not merely a table header, so that an earlier probe can
/// not flip the choice to legacy (istio/istio#61019), and the legacy variant is not probed at all unless chosen.
/// </summary>
internal static partial class IptablesBinaryDetector
{
    [GeneratedRegex(@"v(\d+)\.(\d+)\.(\d+)", RegexOptions.CultureInvariant)]
    private static partial Regex VersionPattern();

    /// <exception cref="InvalidOperationException">No usable iptables variant for the family.</exception>
    public static IptablesBinaries Detect(IProcessRunner runner, IpFamily family, string force)
    {
        string prefix = family == IpFamily.V4 ? "iptables" : "ip6tables";
        var errors = new List<string>();

        if (force is "legacy" or "nft")
        {
            return TryUse(runner, $"{prefix}-{force}", requireRules: false, errors)
                ?? throw new InvalidOperationException($"--force-iptables-binary={force}: {string.Join("; ", errors)}");
        }

        var legacy = TryUse(runner, $"{prefix}-legacy", requireRules: true, errors);
        if (legacy is not null)
        {
            return legacy;
        }

        var nft = TryUse(runner, $"{prefix}-nft", requireRules: false, errors);
        if (nft is not null)
        {
            return nft;
        }

        return TryUse(runner, prefix, requireRules: false, errors)
            ?? throw new InvalidOperationException(
                $"no usable {prefix} found (install the 'iptables' package, or use --backend nftables): {string.Join("; ", errors)}");
    }

    /// <summary>Every installed variant (legacy, nft) whose save command works; used by cleanup to look everywhere.</summary>
    public static IReadOnlyList<IptablesBinaries> Installed(IProcessRunner runner, IpFamily family)
    {
        string prefix = family == IpFamily.V4 ? "iptables" : "ip6tables";
        var found = new List<IptablesBinaries>();
        var errors = new List<string>();
        foreach (var name in new[] { $"{prefix}-legacy", $"{prefix}-nft" })
        {
            if (Describe(runner, name, errors) is { } b)
            {
                found.Add(b);
            }
        }

        if (found.Count == 0 && Describe(runner, prefix, errors) is { } plain)
        {
            found.Add(plain);
        }

        return found;
    }

    private static IptablesBinaries? TryUse(IProcessRunner runner, string name, bool requireRules, List<string> errors)
    {
        var b = Describe(runner, name, errors);
        if (b is null)
        {
            return null;
        }

        if (requireRules)
        {
            var dump = runner.Run(b.Save, []);
            if (!dump.Success || !dump.StandardOutput.Split('\n').Any(l => l.StartsWith("-A ", StringComparison.Ordinal)))
            {
                errors.Add($"{name}: no rules in this network namespace");
                return null;
            }

            return b;
        }

        // Kernel support check without leaving anything behind: listing fails when the variant's kernel side is absent.
        var probe = runner.Run(b.Iptables, b.NeedsWait ? ["-t", "nat", "-S", "--wait=30"] : ["-t", "nat", "-S"]);
        if (!probe.Success)
        {
            errors.Add($"{name} has no usable kernel support: {probe.StandardError.Trim()}");
            return null;
        }

        return b;
    }

    private static IptablesBinaries? Describe(IProcessRunner runner, string name, List<string> errors)
    {
        var version = runner.Run(name + "-save", ["--version"]);
        if (version.ExitCode == ProcessResult.NotFound)
        {
            errors.Add($"{name}-save not found");
            return null;
        }

        string text = version.StandardOutput + version.StandardError;
        if (!version.Success || text.Contains("unrecognized option", StringComparison.Ordinal))
        {
            errors.Add($"{name}-save --version failed: {text.Trim()}");
            return null;
        }

        var m = VersionPattern().Match(text);
        var v = m.Success
            ? new Version(int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture),
                int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture),
                int.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture))
            : new Version(0, 0, 0);
        bool nft = text.Contains("nf_tables", StringComparison.Ordinal);
        return new IptablesBinaries(name, name + "-save", name + "-restore", !nft, v);
    }
}

using SharpProxy.Interception.Apply;
using SharpProxy.Interception.Options;
using SharpProxy.Interception.Platform;
using SharpProxy.Interception.Rules;

namespace SharpProxy.Interception;

/// <summary>
/// <c>sharpproxy iptables [flags]</c>: an istio-iptables compatible command that generates the sidecar capture rules
/// and applies them atomically (<c>iptables-restore --noflush</c> or <c>nft -f</c>), prints them (<c>--dry-run</c>), or
/// removes them (<c>--cleanup-only</c>).
/// </summary>
/// <remarks>
/// Exit codes: 0 success; 1 the rules could not be applied or removed (or the environment could not be read);
/// 2 a bad flag or value (nothing is changed); 126 <c>--run-validation</c> failed (Istio's <c>ValidationErrorCode</c>).
/// Rule documents go to <c>stdout</c>; progress and errors go to <c>stderr</c>.
/// </remarks>
internal static class IptablesCommand
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int UsageError = 2;
    public const int ValidationFailure = 126;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) =>
        Run(args, stdout, stderr, HostEnvironment.FromCurrentProcess());

    internal static int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, HostEnvironment host)
    {
        ArgumentNullException.ThrowIfNull(args);
        IptablesOptions cfg;
        try
        {
            var parsed = IptablesOptionsParser.Parse(args, host.Variables);
            if (parsed is null)
            {
                stdout.Write(IptablesOptionsParser.Usage);
                return Success;
            }

            cfg = parsed;
        }
        catch (OptionException e)
        {
            stderr.WriteLine("Error: " + e.Message);
            stderr.WriteLine("Run 'sharpproxy iptables --help' for usage.");
            return UsageError;
        }

        try
        {
            ResolveFromEnvironment(cfg, host);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            stderr.WriteLine("Error: " + e.Message);
            return Failure;
        }

        IProcessRunner runner = cfg.NetworkNamespace.Length > 0
            ? new NetworkNamespaceRunner(host.Runner, cfg.NetworkNamespace)
            : host.Runner;

        try
        {
            if (!cfg.SkipRuleApply)
            {
                int code = cfg.DryRun ? DryRun(cfg, stdout) : Program(cfg, runner, stdout, stderr);
                if (code != Success)
                {
                    return code;
                }
            }

            if (cfg.RunValidation && !cfg.DryRun)
            {
                bool ok = cfg.NetworkNamespace.Length > 0
                    ? NetworkNamespace.Run(cfg.NetworkNamespace, () => CaptureValidator.Run(cfg, stderr))
                    : CaptureValidator.Run(cfg, stderr);
                if (!ok)
                {
                    stderr.WriteLine("Error: iptables validation failed; workload is not ready for capture.");
                    return ValidationFailure;
                }
            }

            return Success;
        }
        catch (OptionException e)
        {
            stderr.WriteLine("Error: " + e.Message);
            return UsageError;
        }
        catch (Exception e) when (e is ApplyException or InvalidOperationException or IOException)
        {
            stderr.WriteLine("Error: " + e.Message);
            return Failure;
        }
    }

    /// <summary>Istio's <c>FillConfigFromEnvironment</c>: proxy UID/GID, IPv6 detection, DNS servers.</summary>
    private static void ResolveFromEnvironment(IptablesOptions cfg, HostEnvironment host)
    {
        if (cfg.ProxyUid.Length == 0)
        {
            string user = host.Variables.TryGetValue("ENVOY_USER", out var u) && u.Length > 0 ? u : "istio-proxy";
            cfg.ProxyUid = host.LookupUid(user) ?? IptablesOptions.DefaultProxyUid;
        }

        if (cfg.ProxyGid.Length == 0)
        {
            cfg.ProxyGid = cfg.ProxyUid;
        }

        if (cfg.EnableIPv6Override is { } explicitIPv6)
        {
            cfg.EnableIPv6 = explicitIPv6;
        }
        else if (!cfg.CleanupOnly && (!cfg.SkipRuleApply || cfg.RunValidation))
        {
            var detected = HostEnvironment.DetectHostIP(host.LocalAddresses(NullIfEmpty(cfg.NetworkNamespace)), cfg.DualStack)
                ?? throw new InvalidOperationException(
                    "no valid local IP address found to decide between IPv4 and IPv6 (as istio-iptables); " +
                    "give --enable-ipv6=false or --enable-ipv6 to choose explicitly");
            cfg.EnableIPv6 = detected.IsIPv6;
        }

        if (cfg.RedirectDns && !cfg.CaptureAllDns)
        {
            (cfg.DnsServersV4, cfg.DnsServersV6) = host.ReadDnsServers();
        }
    }

    private static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;

    private static int DryRun(IptablesOptions cfg, TextWriter stdout)
    {
        if (cfg.Backend == CaptureBackend.Nftables)
        {
            stdout.Write("# nft -f -\n");
            stdout.Write(cfg.CleanupOnly ? NftablesRuleSet.BuildCleanupScript() : IstioNftablesRules.Build(cfg).BuildScript());
        }
        else if (cfg.CleanupOnly)
        {
            var plan = IstioIptablesRules.Build(CleanupPlanOptions(cfg));
            foreach (var family in new[] { IpFamily.V4, IpFamily.V6 })
            {
                string bin = family == IpFamily.V4 ? "iptables" : "ip6tables";
                stdout.Write($"# {bin} cleanup ({(family == IpFamily.V4 ? "IPv4" : "IPv6")}); when applied, jumps and chains are taken from {bin}-save\n");
                foreach (var cmd in IptablesRuleSet.BuildStaticCleanup(plan.Rules(family)))
                {
                    stdout.Write(bin + " " + string.Join(' ', cmd) + "\n");
                }
            }

            foreach (var f in new[] { "-4", "-6" })
            {
                stdout.Write($"# ip {f} rule del fwmark {cfg.InboundTProxyMark} lookup {cfg.InboundTProxyRouteTable}\n");
                stdout.Write($"# ip {f} route flush table {cfg.InboundTProxyRouteTable}\n");
            }

            return Success;
        }
        else
        {
            var rules = IstioIptablesRules.Build(cfg);
            stdout.Write("# iptables-restore --noflush (IPv4)\n");
            stdout.Write(rules.BuildRestore(IpFamily.V4));
            if (cfg.EnableIPv6)
            {
                stdout.Write("# ip6tables-restore --noflush (IPv6)\n");
                stdout.Write(rules.BuildRestore(IpFamily.V6));
            }
        }

        if (!cfg.CleanupOnly)
        {
            foreach (var command in RouteConfigurator.Describe(cfg))
            {
                stdout.Write("# " + command + "\n");
            }
        }

        return Success;
    }

    private static int Program(IptablesOptions cfg, IProcessRunner runner, TextWriter stdout, TextWriter stderr)
    {
        var routes = new RouteConfigurator(runner, stderr);
        IReadOnlyList<string> summary;
        if (cfg.Backend == CaptureBackend.Nftables)
        {
            var nft = new NftablesApplier(runner, stderr);
            if (cfg.CleanupOnly)
            {
                summary = [nft.Cleanup()];
                routes.Cleanup(cfg);
            }
            else
            {
                summary = [nft.Apply(IstioNftablesRules.Build(cfg))];
                routes.Apply(cfg);
            }
        }
        else
        {
            var ipt = new IptablesApplier(runner, stderr);
            if (cfg.CleanupOnly)
            {
                summary = ipt.Cleanup(cfg, IstioIptablesRules.Build(CleanupPlanOptions(cfg)));
                routes.Cleanup(cfg);
            }
            else
            {
                summary = ipt.Apply(cfg, IstioIptablesRules.Build(cfg));
                routes.Apply(cfg);
            }
        }

        foreach (var line in summary)
        {
            stdout.WriteLine(line);
        }

        if (cfg.CleanupOnly && summary.Count == 0)
        {
            stdout.WriteLine("nothing to remove");
        }

        return Success;
    }

    /// <summary>The plan used to find our non-jump rules in built-in chains: both families, whatever was detected.</summary>
    private static IptablesOptions CleanupPlanOptions(IptablesOptions cfg)
    {
        var plan = cfg.Clone();
        plan.EnableIPv6 = true;
        return plan;
    }
}
